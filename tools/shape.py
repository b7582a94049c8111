#!/usr/bin/env python3
"""The code's shape: import cycles, layers, the longest functions and modules.

    .venv/bin/python tools/shape.py [--json]

Reads firmware/ and tools/ with `ast` (nothing is imported or run). Every
import counts, a function-local one too: the firmware loads much of its
code only when needed, and a cycle through a late import is still a knot
for a reader. Prints the import cycles (goal: none), the imports that go
up a layer (goal: none; LAYERS below is the firmware's architecture, top to
bottom), and the longest functions and modules. host_tests/test_shape.py
holds the goals.
"""
import argparse
import ast
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The firmware's layers, top first: a module may import its own layer or a
# lower one. A prefix ending in '.' is a package and everything in it.
LAYERS = (
    ('entry', ('firmware.app',)),
    ('start-up', ('firmware.startup', 'firmware.safemode', 'firmware.bootmode')),
    ('front ends', ('firmware.console.', 'firmware.uplink.', 'firmware.actions',
                    'firmware.cfgedit', 'firmware.display')),
    ('hardware shell', ('firmware.hw.',)),
    ('control core', ('firmware.generator', 'firmware.gen_reasons', 'firmware.dispatch',
                      'firmware.shedding', 'firmware.alarms', 'firmware.alarm_table',
                      'firmware.counters',
                      'firmware.site', 'firmware.poller', 'firmware.plan', 'firmware.decode',
                      'firmware.profiles', 'firmware.profiles.', 'firmware.config',
                      'firmware.store', 'firmware.eventlog', 'firmware.persist',
                      'firmware.pv_forecast')),
    ('base', ('firmware', 'firmware.compat', 'firmware.clock', 'firmware.modules',
              'firmware.bus_errors')),
)


def modules(top):
    """{dotted name: path} of the .py files under ROOT/top."""
    out = {}
    for d, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(x for x in dirs if x != '__pycache__')
        for f in sorted(files):
            if f.endswith('.py'):
                path = os.path.join(d, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                out[name[:-9] if name.endswith('.__init__') else name] = path
    return out


def imports(path, known):
    """The modules of `known` that the file at path imports."""
    tree = ast.parse(open(path).read(), path)
    got = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            got.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            got.add(n.module)
            got.update(n.module + '.' + a.name for a in n.names)
    return sorted(m for m in got if m in known)


def graph(top):
    mods = modules(top)
    return {m: [d for d in imports(p, mods) if d != m] for m, p in mods.items()}


def cycles(g):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def layer(name):
    """Index of the module's layer (0 = top), or None when it has none."""
    for i, (_, members) in enumerate(LAYERS):
        for p in members:
            if name == p or (p.endswith('.') and (name + '.').startswith(p)):
                return i
    return None


def upward(g):
    """(importer, imported) pairs where a module imports a higher layer."""
    return [(m, d) for m in sorted(g) for d in g[m]
            if layer(m) is not None and layer(d) is not None and layer(d) < layer(m)]


def unplaced(g):
    return sorted(m for m in g if m.startswith('firmware') and layer(m) is None)


def functions(top):
    """(lines, 'path:line name') of every function and method."""
    out = []
    for name, path in modules(top).items():
        tree = ast.parse(open(path).read(), path)
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((n.end_lineno - n.lineno + 1, '%s:%d %s' % (
                    os.path.relpath(path, ROOT), n.lineno, n.name)))
    return sorted(out, reverse=True)


def module_lines(top):
    return sorted(((sum(1 for _ in open(p)), os.path.relpath(p, ROOT))
                   for p in modules(top).values()), reverse=True)


def report(n=5):
    out = {}
    for top in ('firmware', 'tools'):
        g = graph(top)
        out[top] = {'modules': len(g), 'cycles': cycles(g),
                    'longest_functions': functions(top)[:n],
                    'longest_modules': module_lines(top)[:n]}
    g = graph('firmware')
    out['firmware']['upward_imports'] = upward(g)
    out['firmware']['unplaced'] = unplaced(g)
    out['firmware']['import_the_entry'] = sorted(m for m in g if 'firmware.app' in g[m])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--json', action='store_true', help='print one JSON object instead')
    a = ap.parse_args(argv)
    r = report()
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    for top, x in r.items():
        print('%s/: %d modules, %d import cycles%s' % (
            top, x['modules'], len(x['cycles']),
            ''.join('\n  cycle: ' + ' -> '.join(c) for c in x['cycles'])))
        if 'upward_imports' in x:
            print('  imports up a layer: %d%s' % (len(x['upward_imports']), ''.join(
                '\n    %s -> %s' % p for p in x['upward_imports'])))
            print('  modules in no layer: %s' % (', '.join(x['unplaced']) or '-'))
            print('  modules importing the entry (firmware.app): %s'
                  % (', '.join(x['import_the_entry']) or '-'))
        print('  longest functions: ' + '; '.join('%s (%d lines)' % (w, n)
                                                  for n, w in x['longest_functions']))
        print('  longest modules: ' + '; '.join('%s (%d lines)' % (w, n)
                                                for n, w in x['longest_modules']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
