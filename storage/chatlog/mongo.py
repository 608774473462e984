"""The chat log in MongoDB (collection `chat_log`), used when MONGODB_URI is set."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Sequence

from pymongo import ASCENDING, DESCENDING, MongoClient

from common.clock import as_utc, utcnow
from common.textfold import fold, fold_words

from . import LoggedMessage, Page, day_range

NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class MongoChatLog:
    """`ChatLog` on a MongoDB database; `client` may be any pymongo-compatible client (tests pass one)."""

    def __init__(self, uri: str | None, db_name: str, client: Any | None = None) -> None:
        self._owns_client = client is None
        self.client = client if client is not None else MongoClient(uri, tz_aware=True,
                                                                      serverSelectionTimeoutMS=5000)
        self.collection = self.client[db_name]["chat_log"]
        self.collection.create_index([("phone", ASCENDING), ("created_at", DESCENDING)])
        self.collection.create_index([("created_at", ASCENDING)])

    def append(self, phone: str, body: str, direction: str, message_id: str | None = None,
               created_at: datetime | None = None) -> None:
        """Store one message with its folded text for accent-insensitive search."""
        self.append_many([LoggedMessage(phone, body, direction, message_id, created_at or utcnow())])

    def append_many(self, messages: Sequence[LoggedMessage]) -> None:
        """Store the messages with one ordered insert_many (their ObjectIds follow the given order)."""
        documents = [{"phone": m.phone, "body": m.body, "body_search": fold(m.body), "direction": m.direction,
                      "message_id": m.message_id, "created_at": as_utc(m.created_at)} for m in messages]
        if documents:
            self.collection.insert_many(documents, ordered=True)

    def search(self, phone: str, words: str = "", since: datetime | None = None, until: datetime | None = None,
               limit: int = 10, before_latest: int = 0) -> list[LoggedMessage]:
        """The phone's messages containing every folded word, newest first (see `ChatLog.search`)."""
        if limit <= 0:
            return []
        query = {"phone": phone, **_range(since, until)}
        patterns = [{"body_search": {"$regex": re.escape(word)}} for word in fold_words(words)]
        if patterns:
            query["$and"] = patterns
        if before_latest > 0:
            newest = self.collection.find({"phone": phone}, {"_id": 1}).sort(NEWEST_FIRST).limit(before_latest)
            query["_id"] = {"$nin": [doc["_id"] for doc in newest]}
        return [_to_logged(doc) for doc in self.collection.find(query).sort(NEWEST_FIRST).limit(limit)]

    def list(self, phone: str | None = None, since: datetime | None = None, until: datetime | None = None,
             page: int = 1, per_page: int = 50) -> Page:
        """One page of messages newest first, with the total matching count."""
        page, per_page = max(page, 1), max(per_page, 1)
        query = _range(since, until)
        if phone is not None:
            query["phone"] = phone
        cursor = self.collection.find(query).sort(NEWEST_FIRST).skip((page - 1) * per_page).limit(per_page)
        return Page(items=[_to_logged(doc) for doc in cursor], total=self.collection.count_documents(query),
                    page=page, per_page=per_page)

    def count(self, phone: str | None = None) -> int:
        """How many messages are stored (of one phone, or all)."""
        return self.collection.count_documents({} if phone is None else {"phone": phone})

    def count_by_day(self, days: int = 30, now: datetime | None = None) -> dict[str, int]:
        """Messages per UTC day over the last `days` days (today included), zero-filled, oldest first."""
        start, end, counts = day_range(days, now)
        if not counts:
            return counts
        day = {"$dateToString": {"format": "%Y-%m-%d", "date": "$created_at"}}
        pipeline = [{"$match": {"created_at": {"$gte": start, "$lt": end}}},
                    {"$group": {"_id": day, "n": {"$sum": 1}}}]
        for row in self.collection.aggregate(pipeline):
            if row["_id"] in counts:
                counts[row["_id"]] = int(row["n"])
        return counts

    def delete_phone(self, phone: str) -> int:
        """Remove every message of `phone`; returns how many were removed."""
        return self.collection.delete_many({"phone": phone}).deleted_count

    def ping(self) -> None:
        """Raise if the server does not answer."""
        self.collection.database.command("ping")

    def close(self) -> None:
        """Close the client if this object created it."""
        if self._owns_client:
            self.client.close()


def _range(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    bounds = {}
    if since is not None:
        bounds["$gte"] = as_utc(since)
    if until is not None:
        bounds["$lte"] = as_utc(until)
    return {"created_at": bounds} if bounds else {}


def _to_logged(doc: dict[str, Any]) -> LoggedMessage:
    return LoggedMessage(phone=doc["phone"], body=doc["body"], direction=doc["direction"],
                         message_id=doc.get("message_id"), created_at=as_utc(doc["created_at"]))
