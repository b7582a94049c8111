#!/usr/bin/env python3
"""Check the firmware against the ESP32 port's API: every module, attribute
and call signature that firmware/, boot.py and main.py use must exist on the
board, for each MicroPython version the firmware targets.

    .venv/bin/python tools/check_api.py [--versions 1.24,1.28] [--root DIR] [--json]
    .venv/bin/python tools/check_api.py --setup      # install the stubs only

How: basedpyright (tools/requirements.txt) checks the code with the rules
of tools/api_check/pyrightconfig.json, once per version and once more:

- board pass, per version: the ESP32 port's stubs of that version
  (micropython-esp32-stubs, pinned with digests in
  tools/api_check/stubs-<version>.txt, installed into .venv/api-stubs/<version>),
  pruned where tools/api_gaps.txt says the stub has more than the board (the
  stubs' stdlib modules are CPython's typeshed);
- host pass: CPython's typeshed, with every module the board has replaced by
  a permissive one (any attribute, any call).

A board-pass finding that the host pass also makes comes from pyright's
inference of the untyped firmware, not from the board's API, and is dropped
(unknown imports, unknown names and unknown module attributes always count).
What is left, less the known stub gaps and host-only code paths listed in
tools/api_gaps.txt, are things the board lacks: printed as
file:line:col, and the exit status is 1. A gap entry that no longer matches
anything also fails the check (the list stays true). Exit 2: the check could
not run.
"""
import argparse
import ast
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_DIR = os.path.join(HERE, 'api_check')
CONFIG = os.path.join(CHECK_DIR, 'pyrightconfig.json')
GAPS = os.path.join(HERE, 'api_gaps.txt')
STORE = os.path.join(sys.prefix, 'api-stubs')      # the venv running this script
VERSIONS = ('1.24', '1.28')
KINDS = ('has', 'host', 'only', 'lacks', 'lib')
CHECKED = ('firmware', 'boot.py', 'main.py')

# Rules whose findings never come from the firmware's own (untyped) typing.
ALWAYS = ('reportMissingImports', 'reportUndefinedVariable')
MODULE_ATTR = 'is not a known attribute of module'

# Stub modules that are typing machinery, not board modules: kept as they
# are in both passes.
TYPING_INFRA = {'builtins', 'typing', 'typing_extensions', '_typeshed', 'types', 'abc',
                'enum', '__future__', '_ast', '_codecs', '_collections_abc', '_decimal',
                'sre_compile', 'sre_constants', 'sre_parse', '_asyncio', '__builtins__',
                '_mpy_shed', 'stdlib', 'stubs', 'mypy_extensions'}

# Board modules the host pass keeps as CPython has them: typeshed's own
# stubs import collections.abc.
HOST_KEEP = {'collections'}

PERMISSIVE = ('# permissive twin of a board module (tools/check_api.py host pass)\n'
              'from typing import Any\n'
              'def __getattr__(name: str) -> Any: ...\n')


class CheckError(Exception):
    pass


# --- the stubs -------------------------------------------------------------

def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def stubs_dir(version):
    """site-packages of the installed stubs of version, installing them from
    PyPI (digest-checked) when missing or when their pin file changed."""
    req = os.path.join(CHECK_DIR, 'stubs-%s.txt' % version)
    if not os.path.exists(req):
        raise CheckError('no pin file for version %s: %s' % (version, req))
    want = _sha(req)
    dest = os.path.join(STORE, version)
    site = os.path.join(dest, 'lib', 'site-packages')
    stamp = os.path.join(dest, '.pins.sha256')

    def ready():
        try:
            with open(stamp) as f:
                return f.read().strip() == want and os.path.isdir(site)
        except OSError:
            return False

    if ready():
        return site
    os.makedirs(STORE, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.%s-' % version, dir=STORE)
    try:
        r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                            '--disable-pip-version-check', '--only-binary=:all:',
                            '--require-hashes', '--target', os.path.join(tmp, 'lib', 'site-packages'),
                            '-r', req], capture_output=True, text=True)
        if r.returncode != 0:
            raise CheckError('installing the %s stubs failed:\n%s' % (version, r.stdout + r.stderr))
        with open(os.path.join(tmp, '.pins.sha256'), 'w') as f:
            f.write(want + '\n')
        old = None
        if os.path.exists(dest):
            old = dest + '.old-%d' % os.getpid()
            os.rename(dest, old)
        try:
            os.rename(tmp, dest)
        except OSError:
            pass                # another run installed it meanwhile
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not ready():
        raise CheckError('the %s stubs are not in %s' % (version, dest))
    return site


def stub_modules(site):
    """Dotted names of the modules the board's stubs define (not the typing
    machinery), with their files relative to site."""
    mods = {}
    for base in (site, os.path.join(site, 'stdlib')):
        for dirpath, dirnames, files in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            parts = [] if rel == '.' else rel.split(os.sep)
            if parts and (parts[0] in TYPING_INFRA or parts[0].endswith('.dist-info')):
                dirnames[:] = []
                continue
            for fn in files:
                if not fn.endswith('.pyi'):
                    continue
                name = fn[:-4]
                dotted = '.'.join(parts + ([] if name == '__init__' else [name]))
                if not dotted or dotted.split('.')[0] in TYPING_INFRA:
                    continue
                mods.setdefault(dotted, os.path.relpath(os.path.join(dirpath, fn), site))
    return mods


# --- tools/api_gaps.txt ----------------------------------------------------

class Gap:
    def __init__(self, kind, versions, target, words, lineno):
        self.kind, self.versions, self.target, self.words = kind, versions, target, words
        self.lineno = lineno
        self.why = self.see = None
        self.used = set()

    def applies(self, version):
        return self.versions is None or version in self.versions

    def text(self):
        return ' '.join(self.words)


def load_gaps(path=GAPS):
    """Entries of the gap list. Each starts at column 0 as
        KIND[@V,V] TARGET: WORDS
    with indented `why:` and `see:` lines; KIND is
        has    the board has it, the stub lacks it: a finding in file glob
               TARGET whose message contains WORDS is not one
        host   the same, for a code path that runs only on the host
        only   module (or builtins class) TARGET has only the names WORDS
               on the board: the stub's other public names are removed
        lacks  module TARGET lacks the names WORDS on the board: removed
               (no WORDS: the board has no such module)
        lib    the stubs' module TARGET is removed: lib/ has the one used
    """
    gaps = []
    last = None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip('\n')
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            if line[0] in ' \t':
                if not gaps:
                    raise CheckError('%s:%d: continuation without an entry' % (path, n))
                key, _, val = line.strip().partition(':')
                if key in ('why', 'see'):
                    last = key
                elif last:
                    val = line.strip()          # the why/see text goes on
                elif gaps[-1].kind in ('only', 'lacks'):
                    gaps[-1].words += line.split()
                    continue
                else:
                    raise CheckError('%s:%d: expected why: or see:' % (path, n))
                old = getattr(gaps[-1], last)
                setattr(gaps[-1], last, (old + ' ' if old else '') + val.strip())
                continue
            last = None
            m = re.match(r'(\w+)(?:@([\d.,]+))? +([^\s:]+):(?: (.*))?$', line)
            if not m or m.group(1) not in KINDS:
                raise CheckError('%s:%d: expected "KIND[@V,V] TARGET: ...", one of %s'
                                 % (path, n, ', '.join(KINDS)))
            kind, vers, target, rest = m.groups()
            rest = (rest or '').strip()
            versions = set(vers.split(',')) if vers else None
            words = rest.split() if kind in ('only', 'lacks') else [rest]
            if kind in ('has', 'host') and not rest:
                raise CheckError('%s:%d: %s needs the text of the finding' % (path, n, kind))
            gaps.append(Gap(kind, versions, target.strip(), words, n))
    for g in gaps:
        if not (g.why and g.see):
            raise CheckError('%s:%d: every entry needs a why: and a see: line' % (path, g.lineno))
    return gaps


# --- pruning the board's stubs ----------------------------------------------

def _defined(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.ImportFrom) or isinstance(node, ast.Import):
        # re-exports (`from x import y as y`) are public names too
        return [a.asname for a in node.names if a.asname and a.asname == a.name.split('.')[-1]]
    return []


def _prune_body(body, drop):
    """Remove from body (and from its if/try blocks) the statements that
    define a name drop(name) says to remove; returns the names removed."""
    removed = set()
    keep = []
    for node in body:
        if isinstance(node, ast.If):
            removed |= _prune_body(node.body, drop)
            removed |= _prune_body(node.orelse, drop)
            if not node.body:
                node.body = [ast.Pass()]
        elif isinstance(node, ast.Try):
            for blk in (node.body, node.orelse, node.finalbody):
                removed |= _prune_body(blk, drop)
            if not node.body:
                node.body = [ast.Pass()]
        names = _defined(node)
        gone = [x for x in names if drop(x)]
        if names and len(gone) == len(names):
            removed.update(gone)
            continue
        keep.append(node)
    body[:] = keep
    return removed


def _public(name):
    return not name.startswith('_')


# A base class whose own methods the board's class may lack, and the base
# that stands in for it then (typeshed's bytearray is a MutableSequence: its
# clear/insert/pop/remove/reverse come from there, not from its own body).
NARROWER = {'MutableSequence': ('Sequence', {'append', 'clear', 'extend', 'insert', 'pop',
                                              'remove', 'reverse'})}


def _narrow_bases(cls, words):
    done = set()
    for b in cls.bases:
        name = b.value if isinstance(b, ast.Subscript) else b
        if isinstance(name, ast.Name) and name.id in NARROWER:
            to, methods = NARROWER[name.id]
            if methods - words:
                done |= {'%s (inherited from %s)' % (m, name.id) for m in methods - words}
                name.id = to
    return done


def _stub_files(site, mods, module):
    rel = module.replace('.', os.sep)
    files = [p for p in (os.path.join('stdlib', rel + '.pyi'),
                         os.path.join('stdlib', rel, '__init__.pyi'))
             if os.path.exists(os.path.join(site, p))]
    if module in mods and mods[module] not in files:
        files.append(mods[module])
    return files


def prune(site, mods, gaps, version, root_lib):
    """Apply the `only`, `lacks` and `lib` entries to the stub files in
    site (a copy); the names removed are recorded in each gap's used."""
    for g in gaps:
        if g.kind not in ('only', 'lacks', 'lib') or not g.applies(version):
            continue
        if g.kind == 'lib':
            hit = [p for p in (g.target, g.target + '.pyi') if os.path.exists(os.path.join(site, p))]
            if not os.path.exists(os.path.join(root_lib, g.target)):
                raise CheckError('api_gaps.txt:%d: lib/ has no %s' % (g.lineno, g.target))
            for p in hit:
                full = os.path.join(site, p)
                shutil.rmtree(full) if os.path.isdir(full) else os.remove(full)
                g.used.add(p)
            continue
        module, cls = g.target, ''
        files = _stub_files(site, mods, module)
        if not files and '.' in g.target:
            module, cls = g.target.rsplit('.', 1)
            files = _stub_files(site, mods, module)
        if not files:
            raise CheckError('api_gaps.txt:%d: no stub for %s in the %s stubs'
                             % (g.lineno, g.target, version))
        words = set(g.words)
        if g.kind == 'lacks' and not words and not cls:
            for rel in files:           # the whole module: no such module on the board
                os.remove(os.path.join(site, rel))
                g.used.add(rel)
            continue
        if g.kind == 'only':
            drop = lambda n: _public(n) and n not in words   # noqa: E731
        else:
            drop = lambda n: n in words                        # noqa: E731
        for rel in files:
            path = os.path.join(site, rel)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            if cls:
                found = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
                if not found:
                    raise CheckError('api_gaps.txt:%d: no class %s in %s' % (g.lineno, cls, rel))
                for c in found:
                    g.used |= _prune_body(c.body, lambda n: drop(n) and not n.startswith('__'))
                    g.used |= _narrow_bases(c, words)
                    if not c.body:
                        c.body = [ast.Expr(ast.Constant(...))]
            else:
                g.used |= _prune_body(tree.body, drop)
            with open(path, 'w') as f:
                f.write(ast.unparse(tree) + '\n')


def bundled_typeshed():
    import basedpyright
    ts = os.path.join(os.path.dirname(basedpyright.__file__), 'dist', 'typeshed-fallback')
    if not os.path.isfile(os.path.join(ts, 'stdlib', 'VERSIONS')):
        raise CheckError('no typeshed in the basedpyright package: %s' % ts)
    return ts


def host_typeshed(mods, dest):
    """CPython's typeshed (pyright's own) with a twin of every board module
    that accepts anything (the host pass). They go into the typeshed itself:
    pyright resolves a stdlib name there before any other path."""
    ts = os.path.join(bundled_typeshed(), 'stdlib')
    stdlib = os.path.join(dest, 'stdlib')
    os.makedirs(stdlib)
    tops = {m.split('.')[0] for m in mods} - HOST_KEEP
    for entry in os.listdir(ts):
        name = entry[:-4] if entry.endswith('.pyi') else entry
        if name not in tops and entry != 'VERSIONS':
            os.symlink(os.path.join(ts, entry), os.path.join(stdlib, entry))
    with open(os.path.join(ts, 'VERSIONS')) as f:
        versions = f.read()
    listed = {l.split(':')[0].strip() for l in versions.splitlines() if ':' in l}
    with open(os.path.join(stdlib, 'VERSIONS'), 'w') as f:
        f.write(versions + ''.join('%s: 3.0-\n' % m for m in sorted(mods)
                                   if m.split('.')[0] in tops and m not in listed))
    for dotted in mods:
        parts = dotted.split('.')
        if parts[0] not in tops:
            continue
        is_pkg = any(m.startswith(dotted + '.') for m in mods)
        rel = os.path.join(*parts, '__init__.pyi') if is_pkg else os.path.join(*parts) + '.pyi'
        path = os.path.join(stdlib, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(PERMISSIVE)


# --- running basedpyright ----------------------------------------------------

def load_config():
    with open(CONFIG) as f:
        text = ''.join(l for l in f if not l.lstrip().startswith('//'))
    cfg = json.loads(text)
    for key in ('include', 'executionEnvironments', 'venvPath', 'venv', 'typeshedPath'):
        cfg.pop(key, None)
    return cfg


def run_pyright(cfg, workdir):
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, 'pyrightconfig.json')
    with open(path, 'w') as f:
        json.dump(cfg, f, indent=1)
    r = subprocess.run([sys.executable, '-m', 'basedpyright', '--outputjson', '-p', path],
                       capture_output=True, text=True, cwd=workdir)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise CheckError('basedpyright failed (exit %d):\n%s' % (r.returncode, r.stdout + r.stderr))
    if not out.get('summary', {}).get('filesAnalyzed'):
        raise CheckError('basedpyright analysed no file:\n%s' % r.stdout[:2000])
    return out


def findings(out, root):
    res = []
    for d in out.get('generalDiagnostics', []):
        if d.get('severity') != 'error':
            continue
        f = os.path.relpath(d['file'], root)
        st = d['range']['start']
        res.append((f, st['line'] + 1, st['character'] + 1, d.get('rule', ''),
                    d['message'].split('\n')[0], d['message']))
    return res


def check(root, versions, gaps):
    """{version: [finding]}, the files analysed, and the gaps no finding
    or stub used."""
    base = load_config()
    root = os.path.abspath(root)
    for name in CHECKED:
        if not os.path.exists(os.path.join(root, name)):
            raise CheckError('%s has no %s' % (root, name))
    include = [os.path.join(root, n) for n in CHECKED]
    lib = os.path.join(root, 'lib')
    per_version = {}
    dropped = []
    analysed = 0
    with tempfile.TemporaryDirectory(prefix='check_api-') as tmp:
        jobs = {}
        host_mods = {}
        for v in versions:
            site = stubs_dir(v)
            board_site = os.path.join(tmp, 'board-' + v, 'lib', 'site-packages')
            shutil.copytree(site, board_site,
                            ignore=shutil.ignore_patterns('*.dist-info', '__pycache__'))
            prune(board_site, stub_modules(board_site), gaps, v, lib)
            host_mods.update(stub_modules(board_site))
            jobs[('board', v)] = dict(
                base, include=include, executionEnvironments=[{'root': root, 'extraPaths': [lib]}],
                venvPath=tmp, venv='board-' + v, typeshedPath=board_site)
        # one host pass serves every version: its board modules (all the
        # versions' modules) accept anything
        host_ts = os.path.join(tmp, 'host-typeshed')
        host_typeshed(host_mods, host_ts)
        os.makedirs(os.path.join(tmp, 'empty', 'lib', 'site-packages'))
        jobs[('host', '')] = dict(
            base, include=include, executionEnvironments=[{'root': root, 'extraPaths': [lib]}],
            venvPath=tmp, venv='empty', typeshedPath=host_ts)
        with ThreadPoolExecutor(max_workers=2) as ex:
            futs = {k: ex.submit(run_pyright, cfg, os.path.join(tmp, 'run-%s%s' % k))
                    for k, cfg in jobs.items()}
            outs = {k: f.result() for k, f in futs.items()}
        host_keys = {x[:5] for x in findings(outs[('host', '')], root)}
        for v in versions:
            b = outs[('board', v)]
            analysed = max(analysed, b['summary']['filesAnalyzed'])
            kept = []
            for x in findings(b, root):
                f, line, col, rule, head, msg = x
                always = rule in ALWAYS or (rule == 'reportAttributeAccessIssue'
                                            and MODULE_ATTR in head)
                if not always and x[:5] in host_keys:
                    dropped.append((v,) + x)    # the firmware's own typing, not the board
                    continue
                gap = next((g for g in gaps if g.kind in ('has', 'host') and g.applies(v)
                            and fnmatch.fnmatch(f, g.target) and g.words[0] in msg), None)
                if gap:
                    gap.used.add((v, f, line))
                    continue
                kept.append(x)
            per_version[v] = kept
    return per_version, analysed, dropped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--root', default=os.path.dirname(HERE),
                    help='the tree to check (default: this repo)')
    ap.add_argument('--versions', default=','.join(VERSIONS),
                    help='MicroPython versions, comma separated (default %(default)s)')
    ap.add_argument('--setup', action='store_true', help='install the stubs and stop')
    ap.add_argument('--json', action='store_true', help='print the result as JSON')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='also list the board-pass findings the host pass shares (dropped)')
    args = ap.parse_args(argv)
    versions = [v.strip() for v in args.versions.split(',') if v.strip()]
    t0 = time.monotonic()
    try:
        if args.setup:
            for v in versions:
                print('stubs %s: %s' % (v, stubs_dir(v)))
            return 0
        gaps = load_gaps()
        per_version, analysed, dropped = check(args.root, versions, gaps)
    except CheckError as e:
        print('check_api: %s' % e, file=sys.stderr)
        return 2
    # one line per finding, with the versions that make it
    merged = {}
    for v in versions:
        for x in per_version[v]:
            merged.setdefault(x[:5], (x, []))[1].append(v)
    stale = [g for g in gaps if not g.used and any(g.applies(v) for v in versions)]
    elapsed = time.monotonic() - t0
    if args.json:
        print(json.dumps({
            'versions': versions, 'files': analysed, 'seconds': round(elapsed, 1),
            'findings': [{'file': x[0], 'line': x[1], 'col': x[2], 'rule': x[3],
                          'message': x[5], 'versions': vs} for x, vs in merged.values()],
            'stale_gaps': [{'line': g.lineno, 'entry': '%s %s' % (g.kind, g.target)}
                           for g in stale]}, indent=1))
    else:
        for (f, line, col, rule, head, msg), vs in sorted(merged.values()):
            print('%s:%d:%d: %s [%s] (%s)' % (f, line, col, msg.replace('\n', ' '), rule,
                                              ','.join(vs)))
        if args.verbose:
            for v, f, line, col, rule, head, msg in dropped:
                print('  dropped (host pass too) %s %s:%d:%d: %s [%s]' % (v, f, line, col, head, rule))
        for g in stale:
            print('tools/api_gaps.txt:%d: stale entry, matches nothing: %s %s'
                  % (g.lineno, g.kind, g.target))
        print('check_api: %d finding(s), %d stale gap(s); %d files, MicroPython %s, %.1f s'
              % (len(merged), len(stale), analysed, ', '.join(versions), elapsed))
    return 1 if merged or stale else 0


if __name__ == '__main__':
    sys.exit(main())
