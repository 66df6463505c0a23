"""What the tests share: a loopback port, the test 'browser', polling, and a recording feed sink.

Imported as ``support.*`` by the tests (pytest puts ``tests/`` on ``sys.path`` when it loads
``tests/conftest.py``: no ``tests/__init__.py``, the default "prepend" import mode), and as
``tests.support.*`` by ``bench/``, which runs with the repository root on ``sys.path``. Nothing
under ``terminal/`` may import it: the product never depends on test code.
"""
