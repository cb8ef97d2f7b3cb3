pytest_plugins = ["lab.fixtures"]


def pytest_collection_finish(session):
    """The end-to-end tests run last (pytest.ini's testpaths): start building the toolchain they
    need now, so that a cold build overlaps with the unit and lab tests."""
    if any(item.get_closest_marker("e2e") for item in session.items):
        from labstack.stack import start_toolchain_build

        start_toolchain_build()
