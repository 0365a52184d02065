"""Lookups over the customers table that must stay fast at millions of rows."""

import sqlalchemy as sa

from karn.extensions import db

# Indexed columns whose distinct values the filter drop-downs list.
DISTINCT_COLUMNS = ("segment", "plan", "region")


def distinct_values(column: str, limit: int = 200) -> list[str]:
    """The distinct values of an indexed customer column, in order.

    A recursive query that hops from one value to the next in the index: a
    plain DISTINCT reads every row, which at a million customers costs a
    tenth of a second on every page that shows a filter.
    """
    if column not in DISTINCT_COLUMNS:
        raise ValueError(column)
    query = sa.text(
        f"""
        WITH RECURSIVE seen(value) AS (
            SELECT min({column}) FROM customers
            UNION ALL
            SELECT (
                SELECT min(c.{column}) FROM customers AS c
                WHERE c.{column} > s.value
            )
            FROM seen AS s WHERE s.value IS NOT NULL
        )
        SELECT value FROM seen WHERE value IS NOT NULL LIMIT :limit
        """
    )
    return list(db.session.scalars(query, {"limit": limit}))
