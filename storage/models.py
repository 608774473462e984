"""SQLAlchemy 2 models of the application database. Schema changes go through Alembic."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from common.clock import utcnow

from .sealing import SealedText


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    """A registered WhatsApp user. The password exists here only as an argon2id hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    cpf: Mapped[str] = mapped_column(String(11), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    logged_in_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Login(Base):
    """One login attempt, successful or not (the lockout counts these)."""

    __tablename__ = "logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    cpf: Mapped[str] = mapped_column(String(11), index=True)
    success: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ImageDescription(Base):
    """A description owned by one phone; one description may own several images."""

    __tablename__ = "table_descricao"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    descricao: Mapped[str] = mapped_column(Text)
    from_number: Mapped[str] = mapped_column(String(20), index=True)
    model_description: Mapped[str | None] = mapped_column(Text)  # what the model saw in its photos
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    links: Mapped[list["ImageLink"]] = relationship(back_populates="description", cascade="all, delete-orphan",
                                                    order_by="ImageLink.id")


class ImageLink(Base):
    """One stored image of a description; `image_link` is the media-store key, never a public URL."""

    __tablename__ = "table_image_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_link: Mapped[str] = mapped_column(Text)
    id_descricao: Mapped[int] = mapped_column(ForeignKey("table_descricao.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media_objects.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    description: Mapped[ImageDescription] = relationship(back_populates="links")


class MediaObject(Base):
    """An image or voice note received from a user and kept in the media store."""

    __tablename__ = "media_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(255), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    message_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    thumb_key: Mapped[str | None] = mapped_column(String(255))  # a photo's small JPEG copy, if one was made
    model_description: Mapped[str | None] = mapped_column(Text)  # the model's description of the photo (vision)
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class TodoList(Base):
    """A titled to-do list of one phone, with a short motivating line."""

    __tablename__ = "todo_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(200))
    motivation: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    items: Mapped[list["TodoItem"]] = relationship(back_populates="todo_list", cascade="all, delete-orphan",
                                                   order_by="TodoItem.position")


class TodoItem(Base):
    """One item of a to-do list; `done_at` is set when the user ticks it."""

    __tablename__ = "todo_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("todo_lists.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    todo_list: Mapped[TodoList] = relationship(back_populates="items")


class InboundMessage(Base):
    """The durable ledger: every webhook delivery, written before Twilio gets its 200.

    status: queued -> processing -> done | failed. `attempts` counts processing starts.
    """

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(SealedText, default="")
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    profile_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_inbound_sender_status", "sender", "status", "id"),
                      Index("ix_inbound_status", "status"))


class ChatMessage(Base):
    """The SQL chat log: every inbound and outbound message (when MongoDB is not configured)."""

    __tablename__ = "chat_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    body_search: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_chat_log_phone_created", "phone", "created_at"),
                      Index("ix_chat_log_created", "created_at"))


class ConversationState(Base):
    """A pending multi-step flow of one phone (registration, login, photo waiting for a description).

    `data` never holds a password: the server captures that message itself and hashes it at once.
    """

    __tablename__ = "conversation_state"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    flow: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One outbound message part (a Twilio SID) and the latest status Twilio's callback reported."""

    __tablename__ = "deliveries"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # reply, image, reminder
    reminder_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_deliveries_status", "status"),)


class ContactPrefs(Base):
    """What one phone asked of proactive messages: opted out (PARAR), blocked us (21610), its time zone."""

    __tablename__ = "contact_prefs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reminder(Base):
    """A reminder of one phone: due at `due_at` (UTC), repeated daily/weekly at `local_time` in
    `time_zone`, optionally on a to-do item (dropped once the item is done).

    status: active -> sending -> sent | active (a repeat's next time) | held (outside WhatsApp's
    24-hour window with no template: delivered with the user's next message) | cancelled | dropped | failed.
    """

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    repeat: Mapped[str | None] = mapped_column(String(10))
    local_time: Mapped[str] = mapped_column(String(5))
    time_zone: Mapped[str] = mapped_column(String(64))
    todo_item_id: Mapped[int | None] = mapped_column(ForeignKey("todo_items.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="active")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_reminders_due", "status", "due_at"),
                      Index("ix_reminders_owner", "owner", "status"),
                      Index("ux_reminders_owner_number", "owner", "number", unique=True))
