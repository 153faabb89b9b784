"""The store side of the relay's read-back, on SQLite and PostgreSQL: pending outbox messages
(acceptance notices, partner notifications, status-change notices) are found by the id their
header carries; published ones and unknown ids are not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from gateway.domain.letters import AcceptanceNotice, ApplicantKind, Channel, Status
from gateway.domain.partners import StatusChangeNotification
from gateway.domain.status_notices import StatusChangeNotice
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
    status_changes = [
        StatusChangeNotice(f"DGK-2026-{i:06d}", s, Status.IN_PROGRESS, NOW, None, None, None, None)
        for i in range(2)
        for s in (1, 2)
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
            await uow.status_notices.add(status_changes, NOW)
            await uow.commit()
        async with SqlUnitOfWork(engine) as uow:
            await uow.notices.mark_published([notices[0].notice_id], NOW)
            await uow.partners.mark_notified(changes[:1], NOW)
            await uow.status_notices.mark_published(status_changes[:1], NOW)
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
            ids = [n.notice_id for n in status_changes[:3]] + ["DGK-2026-000009/1", "x/y"]
            pending_notices = await uow.status_notices.pending_with_ids(ids)
            assert sorted(n.notice_id for n in pending_notices) == [
                status_changes[1].notice_id,
                status_changes[2].notice_id,
            ]
            oldest = await uow.status_notices.pending(10)
            assert [n.notice_id for n in oldest] == [n.notice_id for n in status_changes[1:]]
    finally:
        await engine.dispose()
