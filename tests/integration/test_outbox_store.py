"""The store side of the relay's read-back, on SQLite and PostgreSQL: pending outbox messages
are found by the id their header carries; published ones and unknown ids are not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from gateway.domain.letters import AcceptanceNotice, ApplicantKind, Channel, Status
from gateway.domain.partners import StatusChangeNotification
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import SqlUnitOfWork, create_engine

NOW = datetime(2026, 11, 28, 10, tzinfo=UTC)


async def test_pending_messages_are_found_by_their_header_id(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    notices = [
        AcceptanceNotice(
            UUID(int=i + 1),
            f"DGK-2026-{i:06d}",
            date(2026, 1, 5),
            Channel.WEBSITE,
            ApplicantKind.PERSON,
            "L9R346P",
        )
        for i in range(3)
    ]
    changes = [
        StatusChangeNotification("AZ-VXM", f"DGK-2026-{i:06d}", None, s, Status.IN_PROGRESS, NOW)
        for i in range(2)
        for s in (1, 2)
    ]
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.notices.add(notices, NOW)
            await uow.partners.queue_notifications(changes, NOW)
            await uow.commit()
        async with SqlUnitOfWork(engine) as uow:
            await uow.notices.mark_published([notices[0].notice_id], NOW)
            await uow.partners.mark_notified(changes[:1], NOW)
            await uow.commit()
        async with SqlUnitOfWork(engine) as uow:
            found = await uow.notices.pending_with_ids(
                [str(n.notice_id) for n in notices[:2]] + [str(UUID(int=99))]
            )
            assert found == [notices[1]]
            pending = await uow.partners.pending_notifications_with_ids(
                [c.notification_id for c in changes[:3]] + ["AZ-VXM/DGK-2026-000009/1"]
            )
            assert sorted(c.notification_id for c in pending) == [
                changes[1].notification_id,
                changes[2].notification_id,
            ]
    finally:
        await engine.dispose()
