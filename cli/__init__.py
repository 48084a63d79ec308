"""The ``deepwell`` command line: one module per command group, each calling library functions
of the other packages (never another command). With the API's lifespan, the one place that
composes the packages."""

from cli.db_cmd import import_table_modules
from cli.main import app

__all__ = ["app", "import_table_modules"]
