"""Use cases for CRM records: contacts, companies, deals, tickets and their associations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from core.clock import Clock
from core.errors import Conflict, NotFound, Rule, Violation, fail_if
from core.models import Association, CrmRecord, ObjectType
from core.ports import Database, RecordPage
from core.rules import check_text_tree
from core.text import neutralise, unsafe_characters

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def search_needle(text: str | None) -> str | None:
    """What a search for ``text`` looks for in property values (None: no search)."""
    return text.casefold() if text else None


def matches_search(properties: Mapping[str, str], needle: str | None) -> bool:
    """Whether a record with ``properties`` matches a search (:func:`search_needle`): any
    property value holds the needle, ignoring case."""
    return not needle or any(needle in value.casefold() for value in properties.values())


def page_of(
    records: Iterable[CrmRecord],
    text: str | None,
    include_archived: bool,
    offset: int,
    limit: int | None,
) -> RecordPage:
    """:meth:`core.ports.RecordRepository.page` read from ``records`` (in id order) one by one:
    what a store without a search index of its own answers."""
    needle = search_needle(text)
    found = [
        r
        for r in records
        if (include_archived or not r.archived) and matches_search(r.properties, needle)
    ]
    end = None if limit is None else offset + limit
    return RecordPage(found[offset:end], len(found))


SEARCH_SEPARATOR = "\x00"
"""Between the values of :func:`search_haystack` (no value holds it: see check_text_tree)."""


def search_haystack(properties: Mapping[str, str]) -> str:
    """A record's property values as one text, for a store to search with ``needle in
    haystack``: the same answer as :func:`matches_search` for a needle without
    :data:`SEARCH_SEPARATOR`."""
    return SEARCH_SEPARATOR.join(value.casefold() for value in properties.values())


def check_email_characters(email: str, field: str = "properties.email") -> list[Violation]:
    """An email holds no control characters (ESC, C1, bidirectional overrides, ...).

    Refused outright on every path, not merely neutralised when shown: an email names a contact
    in every list, search and export, and is how a contact is found and created.
    """
    unsafe = unsafe_characters(email)
    if not unsafe:
        return []
    return [
        Violation(
            field=field,
            rule=Rule.INVALID_EMAIL,
            message=(
                f"{field} '{neutralise(email)}' holds control characters ({', '.join(unsafe)}); "
                "an email address is printable text with one @ and a dot in its domain."
            ),
            actual=email,
        )
    ]


def check_email(email: str, field: str = "properties.email") -> list[Violation]:
    """An email address has no control characters, one ``@`` and a dot in its domain."""
    refused = check_email_characters(email, field)
    if refused or _EMAIL_RE.fullmatch(email):
        return refused
    return [
        Violation(
            field=field,
            rule=Rule.INVALID_EMAIL,
            message=f"{email!r} is not an email address.",
            actual=email,
        )
    ]


class RecordService:
    """Create, read, change and link CRM records."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def get(self, object_type: ObjectType, record_id: str) -> CrmRecord:
        """A record by id; :class:`NotFound` when there is none."""
        record = self._db.records.get(object_type, record_id)
        if record is None:
            raise NotFound(f"No {object_type.singular.lower()} with id {record_id} exists.")
        return record

    def search(
        self,
        object_type: ObjectType,
        text: str | None = None,
        include_archived: bool = False,
    ) -> list[CrmRecord]:
        """Records of a type by id; ``text`` matches any property value, ignoring case."""
        return self.page(object_type, text, include_archived).records

    def page(
        self,
        object_type: ObjectType,
        text: str | None = None,
        include_archived: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> RecordPage:
        """As :meth:`search`, from the ``offset``-th match on, at most ``limit`` of them, and
        how many match in all (a list shows its first screen without reading every record)."""
        return self._db.records.page(object_type, text, include_archived, offset, limit)

    def with_properties(
        self, object_type: ObjectType, wanted: Sequence[tuple[str, str]]
    ) -> list[CrmRecord]:
        """Records of a type (archived ones too: their completions stay theirs) whose every
        ``(name, value)`` property equals the value, ignoring case; ``hs_object_id`` is the id,
        as HubSpot lists it among a record's properties."""

        def value_of(record: CrmRecord, name: str) -> str | None:
            return record.id if name == "hs_object_id" else record.properties.get(name)

        def matches(record: CrmRecord) -> bool:
            for name, value in wanted:
                found = value_of(record, name)
                if found is None or found.casefold() != value.casefold():
                    return False
            return True

        return [r for r in self._db.records.list_records(object_type) if matches(r)]

    def find_contact(self, email: str) -> CrmRecord:
        """The contact with this email; :class:`NotFound` when there is none."""
        contact = self._db.records.find_contact_by_email(email)
        if contact is None:
            raise NotFound(f"No contact with email {email!r} exists.")
        return contact

    def create(self, object_type: ObjectType, properties: Mapping[str, str]) -> CrmRecord:
        """Create a record; a contact's email is checked and must be unused."""
        props = {k: str(v) for k, v in properties.items() if v is not None}
        fail_if(check_text_tree(props, "properties"))
        with self._db.transaction() as unit:
            self._check_email(object_type, props, None)
            now = self._clock.now()
            record = CrmRecord(
                object_type=object_type,
                id=self._db.records.next_id(object_type),
                properties=props,
                created_at=now,
                updated_at=now,
            )
            self._db.records.insert(record)
            unit.commit()
            return record

    def update(
        self, object_type: ObjectType, record_id: str, properties: Mapping[str, str]
    ) -> CrmRecord:
        """Set properties (an empty string clears one)."""
        fail_if(check_text_tree(dict(properties), "properties"))
        with self._db.transaction() as unit:
            record = self.get(object_type, record_id)
            merged = dict(record.properties)
            for key, value in properties.items():
                if value is None or value == "":
                    merged.pop(key, None)
                else:
                    merged[key] = str(value)
            self._check_email(object_type, merged, record_id)
            updated = record.model_copy(
                update={"properties": merged, "updated_at": self._clock.now()}
            )
            self._db.records.replace(updated)
            unit.commit()
            return updated

    def archive(self, object_type: ObjectType, record_id: str) -> CrmRecord:
        """Archive a record; its completions stay on its timeline."""
        with self._db.transaction() as unit:
            record = self.get(object_type, record_id)
            updated = record.model_copy(update={"archived": True, "updated_at": self._clock.now()})
            self._db.records.replace(updated)
            unit.commit()
            return updated

    def associate(
        self, from_type: ObjectType, from_id: str, to_type: ObjectType, to_id: str
    ) -> Association:
        """Link two records (in both directions)."""
        with self._db.transaction() as unit:
            self.get(from_type, from_id)
            self.get(to_type, to_id)
            association = Association(
                from_type=from_type, from_id=from_id, to_type=to_type, to_id=to_id
            )
            self._db.records.associate(association)
            unit.commit()
            return association

    def associated(
        self, object_type: ObjectType, record_id: str
    ) -> dict[ObjectType, list[CrmRecord]]:
        """The records linked to one record, by type."""
        linked: dict[ObjectType, list[CrmRecord]] = {}
        for association in self._db.records.associations(object_type, record_id):
            record = self._db.records.get(association.to_type, association.to_id)
            if record is not None:
                linked.setdefault(association.to_type, []).append(record)
        return linked

    def identify_problems(self, utk: str, email: str) -> list[Violation]:
        """Why ``identify(utk, email)`` must not happen, if it must not.

        A visitor token already joined to another contact stays theirs: re-pointing it would
        hand that person's visits (and every later completion sent with only the token) to
        whoever names an email next to it. Only a token no other contact holds is joined, and
        only its anonymous completions move (never one already on a record).
        """
        problems = check_email(email, "email")
        holder = self._db.records.find_contact_by_utk(utk)
        if holder is not None and not holder.archived:
            owner = self._db.records.find_contact_by_email(email)
            if owner is None or owner.id != holder.id:
                problems.append(
                    Violation(
                        field="utk",
                        rule=Rule.UTK_IN_USE,
                        message=(
                            f"The visitor token is already joined to contact {holder.id}; it is "
                            f"not moved to {email!r}."
                        ),
                    )
                )
        return problems

    def identify(self, utk: str, email: str) -> tuple[CrmRecord, int]:
        """Join a visitor (``utk``) to the contact with ``email``, creating it if needed.

        Returns the contact and how many anonymous completions it received. Refused
        (:class:`ValidationFailed`) as :meth:`identify_problems` says.
        """
        fail_if(check_email(email, "email"))
        with self._db.transaction() as unit:
            fail_if(self.identify_problems(utk, email))
            contact = self._db.records.find_contact_by_email(email)
            if contact is None:
                contact = self.create(ObjectType.CONTACT, {"email": email, "hubspotutk": utk})
            elif contact.utk != utk:
                contact = self.update(ObjectType.CONTACT, contact.id, {"hubspotutk": utk})
            unit.commit()
        # After the unit (when not inside another): a store may rewrite the visitor's files
        # before it takes the lock. What the visitor sends from now on goes to the contact;
        # should this not happen (a crash), identifying the visitor again moves the rest.
        moved = self._db.completions.attach_visitor(utk, contact.id)
        return contact, moved

    def _check_email(
        self, object_type: ObjectType, props: Mapping[str, str], record_id: str | None
    ) -> None:
        if object_type is not ObjectType.CONTACT or not props.get("email"):
            return
        email = props["email"]
        fail_if(check_email(email))
        other = self._db.records.find_contact_by_email(email)
        # Archived contacts are in the recycle bin: their email is free for a new contact.
        if other is not None and other.id != record_id and not other.archived:
            raise Conflict(
                f"A contact with email {email!r} already exists (id {other.id}).",
                [
                    Violation(
                        field="properties.email",
                        rule=Rule.DUPLICATE_EMAIL,
                        message=f"A contact with email {email!r} already exists.",
                        actual=email,
                    )
                ],
            )
