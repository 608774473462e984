"""Seed data for the operator's routes, written through the real stores of a running assistant:
users, described images (real PNGs in the media store), to-do lists, chat log rows over several days.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from common.clock import utcnow
from storage.images import add_media, save_description
from storage.media import make_key
from storage.models import TodoItem, TodoList, User
from tests.fixtures.media import make_png

ANA = "+5511999990001"
BETO = "+5521988880002"
CAIO = "+5531977770003"
XSS_DESCRIPTION = '<script>window.__xss = 1; document.title = "pwned"</script> foto da praia à noite'


@dataclass
class Seeded:
    """What was seeded, for the assertions."""

    descriptions: dict[str, str] = field(default_factory=dict)
    image_keys: list[str] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)


def _user(session, phone: str, name: str, cpf: str, last_login: datetime | None) -> None:
    session.add(User(phone=phone, name=name, cpf=cpf, password_hash="argon2id$not-used-in-these-tests",
                     last_login_at=last_login))


def add_image(services, owner: str, description: str, pictures: int = 1) -> list[str]:
    """Store `pictures` real PNGs for `owner` and describe them; returns their media keys."""
    ids, keys = [], []
    for n in range(pictures):
        data = make_png(f"{description[:10]} {n}", size=(96, 72))
        key = make_key("image", owner.lstrip("+"), "image/png")
        services.media.put(key, data, "image/png")
        ids.append(add_media(services.db, owner, "image", key, "image/png", len(data)))
        keys.append(key)
    save_description(services.db, owner, description, ids)
    return keys


def seed_operator_data(services, now: datetime | None = None) -> Seeded:
    """Three users, five described images, two to-do lists and chat log rows over the last days."""
    now = now or utcnow()
    seeded = Seeded()
    with services.db.session() as session:
        _user(session, ANA, "Ana Souza", "52998224725", now - timedelta(hours=3))
        _user(session, BETO, "Beto Lima", "11144477735", None)
        _user(session, CAIO, "Caio <b>Negrito</b>", "39053344705", now - timedelta(days=2))
        session.add(TodoList(owner=ANA, title="Plano de estudos", created_at=now - timedelta(days=1),
                             items=[TodoItem(position=n, text=text, done=done) for n, (text, done) in
                                    enumerate([("Ler 20 páginas", True), ("Fazer exercícios", True),
                                               ("Revisar anotações", False)], start=1)]))
        session.add(TodoList(owner=BETO, title="Correr 5 km", created_at=now,
                             items=[TodoItem(position=1, text="Alongar", done=False)]))
    for owner, description, pictures in [(ANA, "Praia de Copacabana ao pôr do sol", 2),
                                         (ANA, "Meu cachorro brincando no parque", 1),
                                         (BETO, "Receita de bolo de cenoura", 1),
                                         (BETO, XSS_DESCRIPTION, 1),
                                         (CAIO, "Praias do Nordeste nas férias", 1)]:
        seeded.descriptions[description] = owner
        seeded.image_keys += add_image(services, owner, description, pictures)
    for owner, per_day in [(ANA, [3, 0, 2, 5]), (BETO, [1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 2]), (CAIO, [1])]:
        for days_ago, count in enumerate(per_day):
            for n in range(count):
                when = now - timedelta(days=days_ago, minutes=n + 1)
                services.chatlog.append(owner, f"mensagem {n} de {days_ago} dias", "in" if n % 2 == 0 else "out",
                                        f"SM{owner[-4:]}{days_ago:02d}{n:02d}", created_at=when)
        seeded.messages[owner] = sum(per_day)
    return seeded
