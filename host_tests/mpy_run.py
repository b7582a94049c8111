# Runs portable test modules inside the MicroPython unix port: imports each
# module named on the command line, calls its test_* functions, prints one
# line per test and a summary, exits non-zero on any failure.
# Usage (from the repo root): micropython host_tests/mpy_run.py test_decode ...
import sys

sys.path.insert(0, 'host_tests/portable')
sys.path.insert(0, '.')

failed = 0
passed = 0
for modname in sys.argv[1:]:
    mod = __import__(modname)
    names = [n for n in dir(mod) if n.startswith('test_')]
    names.sort()
    for n in names:
        fn = getattr(mod, n)
        try:
            fn()
            passed += 1
            print('PASS %s.%s' % (modname, n))
        except Exception as e:
            failed += 1
            print('FAIL %s.%s' % (modname, n))
            sys.print_exception(e)
print('SUMMARY passed=%d failed=%d' % (passed, failed))
sys.exit(1 if failed else 0)
