"""Tests wait on events, never on time: no sleeps, no assertions on elapsed time (speed is bench/'s).

A sleep guesses how long something takes: too short and the test is flaky on a loaded machine, too
long and it is slow everywhere. An assertion on elapsed time fails on a busy machine for no fault of
the code. Wait on the process, thread, pipe or lock instead; guard against hangs with timeouts
(pytest-timeout, ``Popen.wait(timeout)``) that assert nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Clock readings: time.time(), time.perf_counter(), time.monotonic() (and their _ns forms), also
# imported bare (`from time import perf_counter`).
CLOCKS = {"time", "perf_counter", "monotonic", "time_ns", "perf_counter_ns", "monotonic_ns"}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _is_sleep(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "sleep") or (
        isinstance(func, ast.Attribute) and func.attr == "sleep"
    )


def _is_clock(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in CLOCKS
    # time.<clock>() only: `moment.time()` on a datetime is a time of day, not a clock reading.
    return (
        isinstance(func, ast.Attribute)
        and func.attr in CLOCKS
        and isinstance(func.value, ast.Name)
        and func.value.id == "time"
    )


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of a module or function, not those of the functions defined inside it."""
    nodes, stack = [], list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        nodes.append(node)
        if not isinstance(node, FUNCTIONS):
            stack.extend(ast.iter_child_nodes(node))
    return nodes


def _reads_clock(node: ast.AST, clocked: set[str]) -> bool:
    """Whether an expression reads a clock, directly or through a name assigned from one."""
    return any(_is_clock(n) or (isinstance(n, ast.Name) and n.id in clocked) for n in ast.walk(node))


def _clocked_names(scope: ast.AST) -> set[str]:
    """Names a scope assigns from clock readings (`start = time.monotonic()`), and from those
    (`elapsed = time.monotonic() - start`), followed until nothing new turns up."""
    assignments = [
        (target, node.value)
        for node in _own_nodes(scope)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
    ]
    clocked: set[str] = set()
    while True:
        found = {
            n.id
            for target, value in assignments
            if _reads_clock(value, clocked)
            for n in ast.walk(target)
            if isinstance(n, ast.Name)
        } - clocked
        if not found:
            return clocked
        clocked |= found


def offences(source: str) -> list[tuple[int, str]]:
    """(line, what) for each sleep and each assertion on a clock reading in a module's source."""
    tree = ast.parse(source)
    found = {(node.lineno, "sleeps") for node in ast.walk(tree) if _is_sleep(node)}
    # Names are followed within one function (or the module's own statements), where a test
    # would take its start time and compare against it.
    for scope in [tree] + [n for n in ast.walk(tree) if isinstance(n, FUNCTIONS)]:
        clocked = _clocked_names(scope)
        found |= {
            (node.lineno, "asserts on elapsed time")
            for node in _own_nodes(scope)
            if isinstance(node, ast.Assert) and _reads_clock(node.test, clocked)
        }
    return sorted(found)


def test_the_checker_flags_sleeps_and_timed_assertions_and_nothing_else():
    # Known offenders and look-alikes, kept as text in tests/data so that no test here really
    # sleeps or times itself (and a grep of tests/ finds none).
    source = (Path(__file__).resolve().parent / "data" / "hygiene_offenders.py.txt").read_text()
    assert offences(source) == [
        (6, "sleeps"),
        (7, "sleeps"),
        (13, "asserts on elapsed time"),
        (16, "asserts on elapsed time"),
    ]


def test_no_test_sleeps_or_asserts_on_elapsed_time():
    found = [
        f"{path.name}:{line}: {what}"
        for path in sorted(TESTS.glob("*.py"))
        for line, what in offences(path.read_text())
    ]
    assert found == [], "wait on an event instead (see this module's docstring):\n" + "\n".join(found)
