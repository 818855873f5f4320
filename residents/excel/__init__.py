"""Residents in Excel: the template, the import (check pass, then write pass), the initialisation
package and the other exports. The column layout lives in one table: ``columns.COLUMNS``."""
