"""tools/check_api.py: the firmware against the ESP32 port's API.

The real tree must give no finding; a copy of it with calls the board lacks
injected must give exactly those (so a checker that silently checks nothing
fails here), and a gap entry that matches nothing must fail the check."""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(ROOT, '.venv', 'bin', 'python')
CHECKER = os.path.join('tools', 'check_api.py')


def run_check(root, *args):
    exe = PYTHON if os.path.exists(PYTHON) else sys.executable
    r = subprocess.run([exe, os.path.join(root, CHECKER), '--json', *args], cwd=root,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), 'the check could not run:\n' + r.stdout + r.stderr
    return r.returncode, json.loads(r.stdout)


def test_firmware_uses_only_what_the_board_has():
    rc, out = run_check(ROOT)
    assert out['versions'] == ['1.24', '1.28']
    shown = '\n'.join('%(file)s:%(line)d: %(message)s (%(versions)s)' % f for f in out['findings'])
    assert out['findings'] == [], 'the board lacks:\n' + shown
    assert out['stale_gaps'] == []
    assert rc == 0
    n_py = sum(f.endswith('.py') for _, _, fs in os.walk(os.path.join(ROOT, 'firmware')) for f in fs)
    assert out['files'] == n_py + 2          # every firmware module, boot.py, main.py
    assert out['seconds'] < 60, out['seconds']


# (line in the injected function, what the board lacks, text the finding must contain)
INJECTED = [
    ('wdt = machine.WDT(timeout=5000)', None, None),
    ('wdt.stop()', 'a watchdog cannot be stopped', 'Cannot access attribute "stop" for class "WDT"'),
    ("socket.getaddrinfo('broker', 1883, timeout=2)", 'getaddrinfo has no timeout',
     'No parameter named "timeout"'),
    ("os.getenv('SITE')", 'no environment on the board',
     '"getenv" is not a known attribute of module "os"'),
    ('time.sleep_ms(0.5)', 'sleep_ms takes an int', 'parameter "ms" of type "int"'),
    ("str(7).zfill(2)", 'no str.zfill', 'Cannot access attribute "zfill" for class "str"'),
    ('bytearray(4).clear()', 'no bytearray.clear',
     'Cannot access attribute "clear" for class "bytearray"'),
    ('sys.exc_info()', 'no sys.exc_info', '"exc_info" is not a known attribute of module "sys"'),
    ('isinstance(None, TimeoutError)', 'no TimeoutError builtin', '"TimeoutError" is not defined'),
    ("if sys.platform == 'esp32': os.putenv('A', '1')", 'a branch only the board takes',
     '"putenv" is not a known attribute of module "os"'),
    ('import threading', 'no threads module', 'Import "threading" could not be resolved'),
    # the board has these: they must not be reported
    ('time.time_ns()', None, None),
    ("machine.Pin(4, machine.Pin.OUT, value=0).on()", None, None),
    ('sys.print_exception(OSError())', None, None),
]


def _copy_tree(dest):
    for name in ('firmware', 'boot.py', 'main.py'):
        src = os.path.join(ROOT, name)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(dest, name))
    os.makedirs(os.path.join(dest, 'tools'))
    for name in ('check_api.py', 'api_gaps.txt'):
        shutil.copy(os.path.join(ROOT, 'tools', name), os.path.join(dest, 'tools', name))
    shutil.copytree(os.path.join(ROOT, 'tools', 'api_check'), os.path.join(dest, 'tools', 'api_check'))
    os.symlink(os.path.realpath(os.path.join(ROOT, 'lib')), os.path.join(dest, 'lib'))


def test_injected_calls_the_board_lacks_are_found(tmp_path):
    _copy_tree(str(tmp_path))
    target = os.path.join('firmware', 'hw', 'actuators.py')
    path = os.path.join(str(tmp_path), target)
    with open(path) as f:
        first = len(f.read().splitlines()) + 1
    lines = ['', '', 'def _injected():', '    import machine, socket, os, time, sys']
    lines += ['    ' + code for code, _, _ in INJECTED]
    with open(path, 'a') as f:
        f.write('\n'.join(lines) + '\n')
    # and a gap entry that no longer matches anything
    with open(os.path.join(str(tmp_path), 'tools', 'api_gaps.txt'), 'a') as f:
        f.write('\nhas firmware/hw/actuators.py: "nothing" is never said\n'
                '    why: a stale entry\n    see: this test\n')

    rc, out = run_check(str(tmp_path))
    assert rc == 1
    got = {(f['file'], f['line']): f for f in out['findings']}
    want = {}
    for i, (code, why, text) in enumerate(INJECTED):
        line = first + 4 + i
        if text is None:
            assert (target, line) not in got, (code, got.get((target, line)))
            continue
        assert (target, line) in got, '%s (%s) was not found: %s' % (code, why, out['findings'])
        f = got[(target, line)]
        assert text in f['message'], (code, f)
        assert f['versions'] == ['1.24', '1.28'], (code, f)
        want[(target, line)] = f
    assert set(got) == set(want), 'findings nobody injected: %s' % [
        got[k] for k in set(got) - set(want)]
    assert [g['entry'] for g in out['stale_gaps']] == ['has firmware/hw/actuators.py']
