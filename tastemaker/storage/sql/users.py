"""Users in SQL: pseudonymized ids, encrypted personal traits, consent per purpose."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tastemaker.catalog.records import ConsentRecord, UpsertResult, UserRecord
from tastemaker.catalog.users import Preferences, Purpose, User, UserTraits
from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.privacy.crypto import SecretBox
from tastemaker.storage.base import UserRepository
from tastemaker.storage.sql.dialect import chunks, insert_ignore, upsert
from tastemaker.storage.sql.driver import select_in
from tastemaker.storage.sql.engine import read, write
from tastemaker.storage.sql.user_rows import delete_user_rows, move_user_rows
from tastemaker.storage.tables import consents, events
from tastemaker.storage.tables import users as t

_ID_AAD = b"tastemaker/user-id"
_TRAITS_AAD = b"tastemaker/user-traits"
_KEY_CACHE = 200_000
"""Pseudonyms a codec keeps (about 150 bytes each)."""


class UserCodec:
    """Turns users into rows and back, encrypting what is personal."""

    def __init__(self, box: SecretBox, plain_traits: Iterable[str]) -> None:
        self.box = box
        self.plain = frozenset(plain_traits)
        self._keys: dict[str, bytes] = {}

    def key(self, external_id: str) -> bytes:
        """The user's pseudonym (``id_hash``). Cached: it is a pure function of the id and the
        keys, and every event batch asks for a thousand of them."""
        key = self._keys.get(external_id)
        if key is None:
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            key = self._keys[external_id] = self.box.pseudonym(external_id)
        return key

    def stub(self, external_id: str, id_hash: bytes, now: datetime) -> dict[str, Any]:
        return {
            "id_hash": id_hash,
            "external_id_enc": self.box.encrypt(external_id.encode(), _ID_AAD + id_hash),
            "traits_plain": {},
            "traits_enc": None,
            "preferences": Preferences().model_dump(),
            "created_at": now,
            "updated_at": now,
        }

    def traits_columns(self, traits: UserTraits, id_hash: bytes) -> dict[str, Any]:
        data = traits.model_dump(exclude_none=True, exclude_defaults=True)
        plain = {k: v for k, v in data.items() if k in self.plain}
        secret = {k: v for k, v in data.items() if k not in self.plain}
        enc = (
            self.box.encrypt(json.dumps(secret).encode(), _TRAITS_AAD + id_hash) if secret else None
        )
        return {"traits_plain": plain, "traits_enc": enc}

    def external_id(self, id_hash: bytes, external_id_enc: bytes) -> str:
        return self.box.decrypt(external_id_enc, _ID_AAD + id_hash).decode()

    def traits(self, m: Any) -> UserTraits:
        """The traits of a users row, decrypted."""
        traits = dict(m["traits_plain"])
        if m["traits_enc"] is not None:
            aad = _TRAITS_AAD + bytes(m["id_hash"])
            traits.update(json.loads(self.box.decrypt(m["traits_enc"], aad)))
        return UserTraits.model_validate(traits)

    def decode(self, m: Any, consent: dict[Purpose, ConsentRecord]) -> UserRecord:
        return UserRecord(
            id=self.external_id(m["id_hash"], m["external_id_enc"]),
            traits=self.traits(m),
            preferences=Preferences.model_validate(m["preferences"]),
            consent=consent,
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


def ensure_users(
    conn: Connection, codec: UserCodec, external_ids: Iterable[str], now: datetime
) -> dict[str, int]:
    """The key of every named user, creating a bare record for each one not yet known."""
    hashes = {ext: codec.key(ext) for ext in dict.fromkeys(external_ids)}
    found = _keys_by_hash(conn, list(hashes.values()))
    missing = [codec.stub(ext, h, now) for ext, h in hashes.items() if h not in found]
    if missing:
        conn.execute(insert_ignore(conn, t, ["id_hash"]), missing)
        found.update(_keys_by_hash(conn, [m["id_hash"] for m in missing]))
    return {ext: found[h] for ext, h in hashes.items()}


def _keys_by_hash(conn: Connection, hashes: list[bytes]) -> dict[bytes, int]:
    return {
        bytes(h): int(pk) for h, pk in select_in(conn, "id_hash, pk", "users", "id_hash", hashes)
    }


class SqlUsers(UserRepository):
    def __init__(self, engine: Engine, codec: UserCodec) -> None:
        self._engine = engine
        self._codec = codec

    def upsert(self, users: Sequence[User], now: datetime) -> UpsertResult:
        latest = {u.id: u for u in users}
        codec = self._codec
        with write(self._engine) as conn:
            before = _keys_by_hash(conn, [codec.key(u) for u in latest])
            # Sorted, like the event log, so concurrent upserts lock new rows in one order.
            keys = ensure_users(conn, codec, sorted(latest), now)
            rows: list[dict[str, Any]] = []
            decisions: list[dict[str, Any]] = []
            for ext, user in latest.items():
                id_hash = codec.key(ext)
                rows.append(
                    {
                        "b_pk": keys[ext],
                        **codec.traits_columns(user.traits, id_hash),
                        "preferences": user.preferences.model_dump(),
                        "updated_at": now,
                    }
                )
                decisions.extend(
                    {
                        "user_pk": keys[ext],
                        "purpose": purpose.value,
                        "granted": c.granted,
                        "decided_at": c.at or now,
                        "recorded_at": now,
                    }
                    for purpose, c in user.consent.items()
                )
            conn.execute(t.update().where(t.c.pk == sa.bindparam("b_pk")), rows)
            if decisions:
                stmt = upsert(
                    conn,
                    consents,
                    ["user_pk", "purpose"],
                    ["granted", "decided_at", "recorded_at"],
                )
                conn.execute(stmt, decisions)
        created = len(latest) - len(before)
        return UpsertResult(created=created, updated=len(latest) - created)

    def get(self, user_id: str) -> UserRecord | None:
        with read(self._engine) as conn:
            row = conn.execute(sa.select(t).where(t.c.id_hash == self._codec.key(user_id))).first()
            if row is None:
                return None
            consent = self._consents(conn, [row._mapping["pk"]])
        return self._codec.decode(row._mapping, consent.get(row._mapping["pk"], {}))

    def _consents(
        self, conn: Connection, pks: list[int]
    ) -> dict[int, dict[Purpose, ConsentRecord]]:
        out: dict[int, dict[Purpose, ConsentRecord]] = {}
        for part in chunks(pks):
            for r in conn.execute(sa.select(consents).where(consents.c.user_pk.in_(part))):
                m = r._mapping
                out.setdefault(m["user_pk"], {})[Purpose(m["purpose"])] = ConsentRecord(
                    granted=m["granted"], at=m["decided_at"]
                )
        return out

    def count(self) -> int:
        with read(self._engine) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())

    def iterate(self, batch_size: int = 1000) -> Iterator[UserRecord]:
        last = 0
        while True:
            with read(self._engine) as conn:
                rows = conn.execute(
                    sa.select(t).where(t.c.pk > last).order_by(t.c.pk).limit(batch_size)
                ).all()
                if not rows:
                    return
                consent = self._consents(conn, [r._mapping["pk"] for r in rows])
            last = rows[-1]._mapping["pk"]
            yield from (
                self._codec.decode(r._mapping, consent.get(r._mapping["pk"], {})) for r in rows
            )

    def _pk(self, conn: Connection, user_id: str, *, lock: bool = False) -> int | None:
        query = sa.select(t.c.pk).where(t.c.id_hash == self._codec.key(user_id))
        return conn.execute(query.with_for_update() if lock else query).scalar()

    def erase(self, user_id: str) -> dict[str, int] | None:
        with write(self._engine) as conn:
            pk = self._pk(conn, user_id)
            return None if pk is None else delete_user_rows(conn, pk)

    def merge(self, anonymous_id: str, known_id: str, now: datetime) -> int:
        if anonymous_id == known_id:
            raise InvalidInput(
                "a user cannot be merged into itself",
                [FieldProblem("known_id", "must differ from the anonymous id")],
            )
        with write(self._engine) as conn:
            # Locked (on PostgreSQL), so two merges of one anonymous user run one after the other.
            anonymous = self._pk(conn, anonymous_id, lock=True)
            if anonymous is None:
                return 0  # unknown, or merged already
            known = ensure_users(conn, self._codec, [known_id], now)[known_id]
            self._adopt_profile(conn, anonymous, known, now)
            moved = move_user_rows(conn, anonymous, known)
            delete_user_rows(conn, anonymous)  # what stayed behind: rows the known user had
        return moved[events.name]

    def _adopt_profile(self, conn: Connection, anonymous: int, known: int, now: datetime) -> None:
        """Give the known user the anonymous one's traits and preferences where the known user
        has none (each of the two taken as a whole)."""
        rows = {
            r.pk: r._mapping
            for r in conn.execute(sa.select(t).where(t.c.pk.in_([anonymous, known])))
        }
        source, target = rows[anonymous], rows[known]
        values: dict[str, Any] = {}
        if _no_traits(target) and not _no_traits(source):
            traits = self._codec.traits(source)
            values.update(self._codec.traits_columns(traits, bytes(target["id_hash"])))
        if _no_preferences(target) and not _no_preferences(source):
            values["preferences"] = source["preferences"]
        if values:
            conn.execute(t.update().where(t.c.pk == known).values(**values, updated_at=now))


def _no_traits(m: Any) -> bool:
    return not m["traits_plain"] and m["traits_enc"] is None


def _no_preferences(m: Any) -> bool:
    return not any(m["preferences"].get(k) for k in Preferences.model_fields)
