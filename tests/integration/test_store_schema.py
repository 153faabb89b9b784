"""The Alembic migrations and the table definitions the code queries describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import create_engine
from gateway.store.tables import metadata


async def test_migrations_produce_exactly_the_tables_the_code_uses(database_url: str):
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        await upgrade_to_head(engine)  # a second start changes nothing
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
