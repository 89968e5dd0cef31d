"""Every SQL statement of franz-ivan, one file each, shipped as the package data ``franz_ivan.sql``.

Read with :func:`franz_ivan.settings.read_sql`; this file only makes the folder a package, so that
an installed distribution and an editable one find the statements the same way.
"""
