"""A deterministic demo portal: realistic events, records and completions from a seed.

The same seed, sizes and ``now`` always give the same database, so screenshots and snapshot
tests can rely on it. Every completion goes through ingestion like real traffic: the JavaScript
events through the lenient path, the others through the strict one.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from core.clock import FixedClock, format_utc
from core.codegen import SnippetTrigger, SnippetTriggerKind, default_trigger, triggered_snippet
from core.defaults import TOUCHPOINT_SOURCES
from core.filters import Operator, PropertyFilter
from core.ingestion import Mode
from core.models import CrmRecord, EventDefinition, ObjectType, Source, TrackingMethod
from core.ports import Database
from core.rules import MAX_BATCH_SIZE
from core.services import Services
from core.workflow_models import (
    CreateTaskAction,
    DelayUntilEventAction,
    SetPropertyAction,
    TriggerKind,
)

DEMO_PORTAL_ID = 24681357

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``."""


@dataclass(frozen=True)
class DemoSpec:
    """How big a demo to build."""

    seed: int = 7
    contacts: int = 120
    completions: int = 4000
    days: int = 90


@dataclass(frozen=True)
class DemoSummary:
    definitions: int
    contacts: int
    companies: int
    deals: int
    tickets: int
    completions: int


_FIRST = (
    "Ann", "Ben", "Chloe", "Daan", "Emma", "Finn", "Grace", "Hugo", "Iris", "Jonas", "Kim", "Lars",
    "Mia", "Noah", "Olivia", "Pieter", "Quinn", "Ruby", "Sam", "Tess", "Umar", "Vera", "Wim",
    "Xena", "Yara", "Zoe", "Ahmed", "Bo", "Carmen", "Dirk", "Elif", "Floor", "Gijs", "Hana",
    "Ilse", "Jan", "Kaja", "Luuk", "Maud", "Nina", "Otto", "Puck", "Rosa", "Sven", "Thijs", "Uma",
    "Vince", "Wout", "Yusuf",
)  # fmt: skip
_LAST = (
    "Bakker", "Jansen", "de Vries", "van Dijk", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
    "Bos", "Vos", "Peters", "Hendriks", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits",
    "de Graaf", "van der Meer", "Kok", "Jacobs", "de Haan", "Vermeulen", "van den Berg",
    "Schouten", "Willems", "Hoekstra", "Koster", "Prins", "Kuipers", "Maas", "Verhoeven",
    "Huisman", "Peeters",
)  # fmt: skip
_COMPANIES = (
    ("Acme Logistics", "acme-logistics.example", "Logistics"),
    ("Bluefin Analytics", "bluefin.example", "Software"),
    ("Cobalt Health", "cobalthealth.example", "Healthcare"),
    ("Dune Outdoor", "dune-outdoor.example", "Retail"),
    ("Ember Energy", "ember-energy.example", "Energy"),
    ("Fjord Travel", "fjordtravel.example", "Travel"),
    ("Granite Legal", "granite-legal.example", "Legal services"),
    ("Harbor Foods", "harborfoods.example", "Food and beverage"),
    ("Indigo Schools", "indigo-schools.example", "Education"),
    ("Juniper Retail", "juniper.example", "Retail"),
    ("Kite Robotics", "kiterobotics.example", "Manufacturing"),
    ("Lumen Media", "lumen-media.example", "Media"),
    ("Maple Finance", "maplefinance.example", "Finance"),
    ("Nova Labs", "novalabs.example", "Software"),
    ("Orchid Hotels", "orchidhotels.example", "Hospitality"),
    ("Pioneer Build", "pioneer-build.example", "Construction"),
    ("Quartz Security", "quartzsec.example", "Security"),
    ("Riverbank Insurance", "riverbank.example", "Insurance"),
    ("Summit Sports", "summitsports.example", "Sports"),
    ("Tidal Software", "tidal.example", "Software"),
)
"""Name, domain and the industry its name says (a health company is in healthcare)."""
_PLANS = [("Starter", "starter"), ("Professional", "professional"), ("Enterprise", "enterprise")]
_PAGES = {
    "pricing": ("https://www.example.com/pricing", "Pricing - Example", "LANDING_PAGE"),
    "home": ("https://www.example.com/", "Example - Home", "STANDARD_PAGE"),
    "blog": ("https://www.example.com/blog/tracking-101", "Tracking 101", "BLOG_POST"),
    "docs": ("https://docs.example.com/getting-started", "Getting started", "KNOWLEDGE_ARTICLE"),
    "whitepaper": (
        "https://www.example.com/resources/state-of-tracking",
        "The state of tracking 2026",
        "LANDING_PAGE",
    ),
}
_REFERRERS = (
    "https://www.google.com/",
    "https://www.linkedin.com/",
    "https://news.ycombinator.com/",
    "https://www.bing.com/",
    "",
)
_DEVICES = (
    ("Desktop", "Chrome", "Windows", 1920, 1080),
    ("Desktop", "Safari", "macOS", 1512, 982),
    ("Desktop", "Firefox", "Linux", 2560, 1440),
    ("Smartphone", "Safari", "iOS", 390, 844),
    ("Smartphone", "Chrome", "Android", 412, 915),
    ("Tablet", "Safari", "iPadOS", 820, 1180),
)
_PLACES = (
    ("Amsterdam", "North Holland", "Netherlands", "nl"),
    ("Rotterdam", "South Holland", "Netherlands", "nl"),
    ("Antwerp", "Flanders", "Belgium", "nl"),
    ("Berlin", "Berlin", "Germany", "de"),
    ("London", "England", "United Kingdom", "en-gb"),
    ("Boston", "Massachusetts", "United States", "en-us"),
    ("Austin", "Texas", "United States", "en-us"),
    ("Toronto", "Ontario", "Canada", "en-ca"),
)
_CAMPAIGNS = (
    ("google", "cpc", "spring_launch"),
    ("linkedin", "paid_social", "enterprise_q4"),
    ("newsletter", "email", "monthly_digest"),
    ("", "", ""),
    ("", "", ""),
)


def _options(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"label": label, "value": value} for label, value in pairs]


DEMO_TRIGGERS: dict[str, SnippetTrigger] = {
    "viewed_pricing_page": SnippetTrigger(SnippetTriggerKind.PAGE_VIEW, "/pricing"),
    "clicked_buy_button": SnippetTrigger(SnippetTriggerKind.CLICK, '[data-track="buy"]'),
    "downloaded_whitepaper": SnippetTrigger(SnippetTriggerKind.CLICK, 'a[href$=".pdf"]'),
}
"""What sends each JavaScript event of the demo: a pricing page view, a click on a buy button,
a click on a PDF link (README's demo web page has all three)."""

DEMO_DEFINITIONS: list[dict[str, Any]] = [
    {
        "label": "Viewed pricing page",
        "description": "A visitor opened the pricing page.",
        "primaryObject": "CONTACT",
        "trackingMethod": "JAVASCRIPT",
        "propertyDefinitions": [
            {"label": "Plan viewed", "type": "enumeration", "options": _options(_PLANS)},
            {"label": "Time on page (seconds)", "name": "time_on_page", "type": "number"},
        ],
    },
    {
        "label": "Started trial",
        "description": "Sent by the signup service when a trial starts.",
        "primaryObject": "CONTACT",
        "trackingMethod": "API",
        "propertyDefinitions": [
            {"label": "Plan", "type": "enumeration", "options": _options(_PLANS)},
            {"label": "Trial length (days)", "name": "trial_length_days", "type": "number"},
            {"label": "Signup source", "type": "string"},
        ],
    },
    {
        "label": "Clicked buy button",
        "description": "A visitor clicked a buy button.",
        "primaryObject": "CONTACT",
        "trackingMethod": "JAVASCRIPT",
        "propertyDefinitions": [
            {
                "label": "Button location",
                "type": "enumeration",
                "options": _options(
                    [("Header", "header"), ("Pricing table", "pricing_table"), ("Footer", "footer")]
                ),
            },
            {"label": "Plan", "type": "enumeration", "options": _options(_PLANS)},
            {"label": "Price", "type": "number"},
        ],
    },
    {
        "label": "Downloaded whitepaper",
        "description": "A visitor downloaded a gated whitepaper.",
        "primaryObject": "CONTACT",
        "trackingMethod": "JAVASCRIPT",
        "propertyDefinitions": [
            {"label": "Whitepaper title", "type": "string"},
            {"label": "File URL", "name": "file_url", "type": "string"},
        ],
    },
    {
        "label": "Submitted support ticket",
        "description": "Sent by the help desk when a customer files a ticket.",
        "primaryObject": "TICKET",
        "trackingMethod": "API",
        "propertyDefinitions": [
            {
                "label": "Category",
                "type": "enumeration",
                "options": _options(
                    [
                        ("Billing", "billing"),
                        ("Bug", "bug"),
                        ("How to", "how_to"),
                        ("Feature request", "feature_request"),
                    ]
                ),
            },
            {
                "label": "Priority",
                "type": "enumeration",
                "options": _options(
                    [("Low", "low"), ("Medium", "medium"), ("High", "high"), ("Urgent", "urgent")]
                ),
            },
            {"label": "Product area", "type": "string"},
        ],
    },
    {
        "label": "Renewed contract",
        "description": "Sent by billing when a company renews.",
        "primaryObject": "COMPANY",
        "trackingMethod": "API",
        "propertyDefinitions": [
            {"label": "Seats", "type": "number"},
            {"label": "Contract value", "type": "number"},
            {"label": "Renewal date", "type": "datetime"},
        ],
    },
    {
        "label": "Completed product demo",
        "description": "Sales logged a finished product demo for a deal.",
        "primaryObject": "DEAL",
        "trackingMethod": "API",
        "propertyDefinitions": [
            {"label": "Demo length (minutes)", "name": "demo_length_minutes", "type": "number"},
            {"label": "Attendees", "type": "number"},
            {
                "label": "Outcome",
                "type": "enumeration",
                "options": _options(
                    [
                        ("Next steps agreed", "next_steps"),
                        ("Needs follow-up", "follow_up"),
                        ("Not a fit", "not_a_fit"),
                    ]
                ),
            },
        ],
    },
]

# How often each event happens, relative to the others.
_WEIGHTS = {
    "viewed_pricing_page": 40,
    "clicked_buy_button": 12,
    "downloaded_whitepaper": 10,
    "started_trial": 8,
    "submitted_support_ticket": 14,
    "renewed_contract": 4,
    "completed_product_demo": 6,
}


def seeded_ids(rng: random.Random) -> Callable[[], str]:
    """A completion id factory that repeats for the same random generator state."""

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    return new_id


RECORDS_PER_UNIT = 1000
"""Records the demo writes in one unit of work."""


class _Builder:
    def __init__(self, db: Database, spec: DemoSpec, now: datetime, progress: Progress) -> None:
        self.rng = random.Random(spec.seed)
        self.spec = spec
        self.now = now
        self.progress = progress
        # Events and records exist from before the first completion; completions arrive "now".
        self.clock = FixedClock(now - timedelta(days=spec.days + 1))
        self.services = Services(db=db, clock=self.clock, new_id=seeded_ids(self.rng))

    def build(self) -> DemoSummary:
        definitions = self._definitions()
        companies = self._companies()
        contacts = self._contacts(companies)
        deals = self._deals(companies, contacts)
        tickets = self._tickets(contacts)
        records = {
            ObjectType.CONTACT: contacts,
            ObjectType.COMPANY: companies,
            ObjectType.DEAL: deals,
            ObjectType.TICKET: tickets,
        }
        self._workflow(definitions)
        stored = self._completions(definitions, records)
        self.clock.set(self.now)
        self.services.workflows.advance()
        return DemoSummary(
            len(definitions), len(contacts), len(companies), len(deals), len(tickets), stored
        )

    def _workflow(self, definitions: list[EventDefinition]) -> None:
        """Trial nurture: whoever starts a trial waits up to three days for a buy click."""
        by_name = {d.name: d for d in definitions}
        workflows = self.services.workflows
        workflow = workflows.create("Trial nurture", ObjectType.CONTACT)
        workflows.update(
            workflow.id,
            trigger=TriggerKind.EVENT,
            trigger_event=by_name["started_trial"].fully_qualified_name,
        )
        workflows.add_action(
            workflow.id,
            DelayUntilEventAction(
                id="a1",
                event_name=by_name["clicked_buy_button"].fully_qualified_name,
                filters=[
                    PropertyFilter(
                        property="button_location",
                        operator=Operator.IS_ANY_OF,
                        values=["pricing_table", "header"],
                    )
                ],
                max_wait_minutes=3 * 24 * 60,
            ),
        )
        workflows.add_action(
            workflow.id,
            SetPropertyAction(
                id="a2",
                property="lifecyclestage",
                value="opportunity",
            ),
        )
        workflows.add_action(
            workflow.id,
            CreateTaskAction(
                id="a3",
                title="Follow up on the trial",
                body="Ask how the trial is going and offer a demo.",
            ),
        )
        workflows.set_enabled(workflow.id, True)

    def _definitions(self) -> list[EventDefinition]:
        made = []
        for body in DEMO_DEFINITIONS:
            definition = self.services.definitions.create(body)
            if definition.tracking_method is TrackingMethod.JAVASCRIPT:
                trigger = DEMO_TRIGGERS.get(definition.name) or default_trigger(definition)
                definition = self.services.definitions.update(
                    definition.name, snippet=triggered_snippet(definition, trigger)
                )
            made.append(definition)
        return made

    def _companies(self) -> list[CrmRecord]:
        count = min(len(_COMPANIES), max(3, self.spec.contacts // 6))
        made = []
        for name, domain, industry in _COMPANIES[:count]:
            # The industry was once drawn at random; the draw stays so that every later
            # random choice (names, times, values) is what it was for the same seed.
            self.rng.choice(range(6))
            made.append(
                self.services.records.create(
                    ObjectType.COMPANY, {"name": name, "domain": domain, "industry": industry}
                )
            )
        return made

    def _contacts(self, companies: list[CrmRecord]) -> list[CrmRecord]:
        made: list[CrmRecord] = []
        total = self.spec.contacts
        for start in range(0, total, RECORDS_PER_UNIT):
            # A thousand contacts a unit of work: one durable write each, not one per contact.
            with self.services.db.transaction() as unit:
                for i in range(start, min(total, start + RECORDS_PER_UNIT)):
                    made.append(self._contact(i, companies[i % len(companies)]))
                unit.commit()
            self.progress("contacts", len(made), total)
        return made

    def _contact(self, i: int, company: CrmRecord) -> CrmRecord:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        local = f"{first}.{last}".lower().replace(" ", "")
        email = f"{local}{i + 1}@{company.properties['domain']}"
        contact = self.services.records.create(
            ObjectType.CONTACT,
            {
                "email": email,
                "firstname": first,
                "lastname": last,
                "hubspotutk": f"{self.rng.getrandbits(128):032x}",
                "jobtitle": self.rng.choice(
                    ["Developer", "Marketing manager", "CTO", "Support lead", "Analyst"]
                ),
            },
        )
        self.services.records.associate(
            ObjectType.CONTACT, contact.id, ObjectType.COMPANY, company.id
        )
        return contact

    def _deals(self, companies: list[CrmRecord], contacts: list[CrmRecord]) -> list[CrmRecord]:
        made = []
        stages = [
            "appointmentscheduled",
            "qualifiedtobuy",
            "presentationscheduled",
            "contractsent",
            "closedwon",
            "closedlost",
        ]
        for i, company in enumerate(companies):
            for n in range(1 + i % 2):
                deal = self.services.records.create(
                    ObjectType.DEAL,
                    {
                        "dealname": f"{company.properties['name']} - {_PLANS[(i + n) % 3][0]}",
                        "amount": str(self.rng.randrange(2, 60) * 500),
                        "dealstage": self.rng.choice(stages),
                    },
                )
                self.services.records.associate(
                    ObjectType.DEAL, deal.id, ObjectType.COMPANY, company.id
                )
                # A contact of the deal's own company (contact j works at company j % count).
                own = contacts[i :: len(companies)] or contacts
                owner = own[n % len(own)]
                self.services.records.associate(
                    ObjectType.DEAL, deal.id, ObjectType.CONTACT, owner.id
                )
                made.append(deal)
        return made

    def _tickets(self, contacts: list[CrmRecord]) -> list[CrmRecord]:
        made = []
        subjects = [
            "Cannot export report",
            "Invoice shows wrong VAT",
            "How do I add a seat?",
            "Tracking code not firing",
            "Request: dark mode",
            "Login loop on Safari",
        ]
        total = max(3, len(contacts) // 8)
        for start in range(0, total, RECORDS_PER_UNIT):
            with self.services.db.transaction() as unit:
                for i in range(start, min(total, start + RECORDS_PER_UNIT)):
                    ticket = self.services.records.create(
                        ObjectType.TICKET,
                        {
                            "subject": subjects[i % len(subjects)],
                            "hs_pipeline_stage": self.rng.choice(["1", "2", "3", "4"]),
                            "hs_ticket_priority": self.rng.choice(["LOW", "MEDIUM", "HIGH"]),
                        },
                    )
                    self.services.records.associate(
                        ObjectType.TICKET,
                        ticket.id,
                        ObjectType.CONTACT,
                        contacts[i * 7 % len(contacts)].id,
                    )
                    made.append(ticket)
                unit.commit()
        return made

    def _completions(
        self,
        definitions: list[EventDefinition],
        records: dict[ObjectType, list[CrmRecord]],
    ) -> int:
        total = self.spec.completions
        rng = self.rng
        # A few very active records and a long tail, as real traffic has.
        activity = {
            kind: list(accumulate(1.0 / (rank + 1) ** 0.8 for rank in range(len(items))))
            for kind, items in records.items()
        }
        weights = [_WEIGHTS.get(d.name, 5) for d in definitions]
        planned: list[tuple[datetime, EventDefinition, CrmRecord]] = []
        span = self.spec.days * 24 * 3600
        for _ in range(total):
            definition = rng.choices(definitions, weights)[0]
            kind = definition.primary_object
            record = rng.choices(records[kind], cum_weights=activity[kind])[0]
            at = self.now - timedelta(seconds=rng.randrange(span))
            if at.weekday() >= 5 and rng.random() < 0.6:  # quieter weekends
                at -= timedelta(days=2)
            planned.append((at, definition, record))
        planned.sort(key=lambda p: p[0])
        stored = 0
        for start in range(0, total, MAX_BATCH_SIZE):
            chunk = planned[start : start + MAX_BATCH_SIZE]
            # the clock follows the data, so that workflows see it arrive as it would have
            self.clock.set(max(at for at, _, _ in chunk))
            for is_js, group in self._by_path(chunk):
                bodies = [self._body(at, d, r) for at, d, r in group]
                if is_js:
                    result = self.services.ingestion.ingest(bodies, Mode.LENIENT, Source.JS)
                else:
                    result = self.services.ingestion.ingest(
                        bodies, Mode.STRICT, Source.API, batch=True
                    )
                stored += len(result.stored)
            self.progress("completions", min(start + MAX_BATCH_SIZE, total), total)
        return stored

    @staticmethod
    def _by_path(
        chunk: list[tuple[datetime, EventDefinition, CrmRecord]],
    ) -> Iterator[tuple[bool, list[tuple[datetime, EventDefinition, CrmRecord]]]]:
        js = [p for p in chunk if p[1].tracking_method is TrackingMethod.JAVASCRIPT]
        api = [p for p in chunk if p[1].tracking_method is not TrackingMethod.JAVASCRIPT]
        if js:
            yield True, js
        if api:
            yield False, api

    def _body(self, at: datetime, definition: EventDefinition, record: CrmRecord) -> dict[str, Any]:
        rng = self.rng
        props: dict[str, Any] = {}
        name = definition.name
        plan = rng.choices(["starter", "professional", "enterprise"], [5, 3, 1])[0]
        if name == "viewed_pricing_page":
            # Now and then an old page sends a plan that is no longer an option.
            props["plan_viewed"] = "enterprise_plus" if rng.random() < 0.02 else plan
            props["time_on_page"] = rng.randrange(3, 400)
        elif name == "started_trial":
            props |= {
                "plan": plan,
                "trial_length_days": rng.choice([14, 14, 30]),
                "signup_source": rng.choice(["website", "partner", "webinar", "app"]),
            }
        elif name == "clicked_buy_button":
            props |= {
                "button_location": rng.choice(["header", "pricing_table", "footer"]),
                "plan": plan,
                "price": {"starter": 29, "professional": 99, "enterprise": 499}[plan],
            }
        elif name == "downloaded_whitepaper":
            props |= {
                "whitepaper_title": "The state of tracking 2026",
                "file_url": "https://cdn.example.com/whitepapers/state-of-tracking.pdf",
            }
        elif name == "submitted_support_ticket":
            props |= {
                "category": rng.choice(["billing", "bug", "how_to", "feature_request"]),
                "priority": rng.choices(["low", "medium", "high", "urgent"], [4, 4, 2, 1])[0],
                "product_area": rng.choice(["Reports", "Tracking", "Billing", "Workflows"]),
            }
        elif name == "renewed_contract":
            props |= {
                "seats": rng.randrange(5, 200),
                "contract_value": rng.randrange(20, 400) * 100,
                "renewal_date": format_utc(at + timedelta(days=365)),
            }
        elif name == "completed_product_demo":
            props |= {
                "demo_length_minutes": rng.choice([30, 45, 60]),
                "attendees": rng.randrange(1, 8),
                "outcome": rng.choice(["next_steps", "follow_up", "not_a_fit"]),
            }
        if definition.tracking_method is TrackingMethod.JAVASCRIPT:
            props |= self._browser_properties(definition)
        else:
            props["hs_touchpoint_source"] = rng.choice(TOUCHPOINT_SOURCES)
        body: dict[str, Any] = {
            "eventName": definition.fully_qualified_name,
            "occurredAt": format_utc(at),
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "properties": props,
        }
        if definition.tracking_method is TrackingMethod.JAVASCRIPT and record.email:
            body["email"] = record.email
            body["utk"] = record.utk
        else:
            body["objectId"] = record.id
        return body

    def _browser_properties(self, definition: EventDefinition) -> dict[str, Any]:
        rng = self.rng
        page = {
            "viewed_pricing_page": "pricing",
            "clicked_buy_button": "pricing",
            "downloaded_whitepaper": "whitepaper",
        }.get(definition.name, rng.choice(list(_PAGES)))
        url, title, content_type = _PAGES[page]
        device, browser, system, width, height = rng.choice(_DEVICES)
        city, region, country, language = rng.choice(_PLACES)
        source, medium, campaign = rng.choice(_CAMPAIGNS)
        referrer = rng.choice(_REFERRERS)
        if rng.random() < 0.01:  # a tracking link far past the 1024-character limit
            referrer = "https://ads.example.net/click?" + "x" * 1100
        touchpoint = (
            "PAID_SEARCH"
            if medium == "cpc"
            else "PAID_SOCIAL"
            if medium == "paid_social"
            else "EMAIL_MARKETING"
            if medium == "email"
            else "ORGANIC_SEARCH"
            if "google" in referrer or "bing" in referrer
            else "REFERRALS"
            if referrer
            else "DIRECT_TRAFFIC"
        )
        props: dict[str, Any] = {
            "hs_page_url": url + (f"?utm_source={source}" if source else ""),
            "hs_page_title": title,
            "hs_page_content_type": content_type,
            "hs_device_type": device,
            "hs_browser": browser,
            "hs_operating_system": system,
            "hs_screen_width": width,
            "hs_screen_height": height,
            "hs_city": city,
            "hs_region": region,
            "hs_country": country,
            "hs_language": language,
            "hs_touchpoint_source": touchpoint,
        }
        if referrer:
            props["hs_referrer"] = referrer
        if source:
            props |= {"hs_utm_source": source, "hs_utm_medium": medium, "hs_utm_campaign": campaign}
        return props


def build_demo(
    db: Database, spec: DemoSpec, now: datetime, progress: Progress | None = None
) -> DemoSummary:
    """Fill an empty database with the demo portal's data, ending at ``now`` (to the hour)."""
    now = now.replace(minute=0, second=0, microsecond=0)
    return _Builder(db, spec, now, progress or (lambda stage, done, total: None)).build()
