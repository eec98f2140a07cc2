"""The lock files match pyproject.toml, so a changed range cannot go unlocked."""

import pytest
from packaging.requirements import Requirement

from scripts import locks

PYPROJECT = locks.pyproject()


def read(lock: str) -> str:
    return (locks.ROOT / "requirements" / f"{lock}.txt").read_text()


@pytest.mark.parametrize("lock", locks.LOCKS)
def test_each_lock_was_resolved_from_the_ranges_pyproject_gives_now(lock: str) -> None:
    assert locks.recorded_inputs(read(lock)) == locks.inputs(lock, PYPROJECT), (
        f"requirements/{lock}.txt was locked from other ranges than pyproject.toml gives: "
        "run scripts/lock-requirements"
    )


@pytest.mark.parametrize("image", locks.IMAGES)
def test_the_tests_run_the_versions_each_image_ships(image: str) -> None:
    tested, shipped = locks.pins(read("test")), locks.pins(read(image))
    assert {name: tested.get(name) for name in shipped} == shipped


@pytest.mark.parametrize("lock", locks.LOCKS)
def test_each_lock_pins_every_package_it_was_resolved_from(lock: str) -> None:
    names = {Requirement(requirement).name.lower() for requirement in locks.inputs(lock, PYPROJECT)}
    assert names - set(locks.pins(read(lock))) == set()


def test_the_record_is_read_back_as_written() -> None:
    text = locks.header("test", PYPROJECT) + "h11==0.16.0\n"
    assert locks.recorded_inputs(text) == locks.inputs("test", PYPROJECT)
    assert locks.pins(text) == {"h11": "0.16.0"}
