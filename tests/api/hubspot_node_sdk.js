// HubSpot's Node SDK (@hubspot/api-client 14), unchanged, against a real `cbe serve`.
//
// Run by tests/api/test_hubspot_node_sdk.py: node hubspot_node_sdk.js STEP, with CBE_NODE_SDK
// (the package's folder), CBE_URL, CBE_TOKEN and CBE_PORTAL_ID in the environment. Each step
// asserts what a client sees and prints one JSON line for the Python side to check again.
"use strict";

const assert = require("node:assert/strict");
const hubspot = require(process.env.CBE_NODE_SDK);

const client = new hubspot.Client({
  accessToken: process.env.CBE_TOKEN,
  basePath: process.env.CBE_URL,
});
const portalId = process.env.CBE_PORTAL_ID;
const event = `pe${portalId}_viewed_car`;

async function json(response) {
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

async function defineViewedCar() {
  const response = await client.apiRequest({
    method: "POST",
    path: "/events/v3/event-definitions",
    body: {
      label: "Viewed Car",
      name: "viewed_car",
      primaryObject: "CONTACT",
      includeDefaultProperties: true,
      propertyDefinitions: [
        {
          name: "condition",
          label: "Condition",
          type: "enumeration",
          options: [
            { label: "New", value: "new", displayOrder: 0, hidden: false },
            { label: "Used", value: "used", displayOrder: 1, hidden: false },
          ],
        },
        { name: "year", label: "Year", type: "number" },
        { name: "make", label: "Make", type: "string" },
      ],
    },
  });
  assert.equal(response.status, 201);
  return json(response);
}

async function contact(email) {
  const created = await client.crm.contacts.basicApi.create({
    properties: { email, firstname: "Ann", lastname: "Lee" },
    associations: [],
  });
  return created.id;
}

const steps = {
  // event definitions through the SDK's generic request call
  async definitions() {
    const created = await defineViewedCar();
    assert.equal(created.fullyQualifiedName, event);

    const listed = await client.apiRequest({
      method: "GET",
      path: "/events/v3/event-definitions",
      qs: { includeProperties: "true" },
    });
    assert.equal(listed.status, 200);
    const list = await json(listed);
    assert.equal(list.total, 1);

    const patched = await client.apiRequest({
      method: "PATCH",
      path: `/events/v3/event-definitions/${event}`,
      body: { label: "Viewed a car", description: "A car's page was opened" },
    });
    assert.equal(patched.status, 201);

    const added = await client.apiRequest({
      method: "POST",
      path: `/events/v3/event-definitions/${event}/property`,
      body: { name: "price", label: "Price", type: "number" },
    });
    assert.equal(added.status, 201);

    const got = await client.apiRequest({
      method: "GET",
      path: `/events/v3/event-definitions/${event}`,
    });
    const definition = await json(got);
    const names = definition.properties.map((p) => p.name);
    assert.deepEqual(names.slice(0, 3), ["condition", "year", "make"]);
    assert.ok(names.includes("price"));

    const missing = await client.apiRequest({
      method: "GET",
      path: "/events/v3/event-definitions/nothing_here",
    });
    assert.equal(missing.status, 404);
    const error = await json(missing);
    return {
      label: definition.labels.singular,
      description: definition.description,
      properties: names.length,
      missing: { status: missing.status, category: error.category },
    };
  },

  async contacts() {
    const id = await contact("ann@example.com");
    const fetched = await client.crm.contacts.basicApi.getById(id, ["email", "firstname"]);
    assert.equal(fetched.properties.email, "ann@example.com");
    const page = await client.crm.contacts.basicApi.getPage(10);
    return { id, email: fetched.properties.email, listed: page.results.length };
  },

  // send, batch send, then the events read API with filters and paging, and event types
  async events() {
    await defineViewedCar();
    const id = await contact("ann@example.com");
    await client.events.send.basicApi.send({
      eventName: event,
      email: "ann@example.com",
      occurredAt: new Date("2026-10-01T09:30:00Z"),
      properties: { condition: "used", year: "2020", make: "Ford" },
    });
    await client.events.send.batchApi.send({
      inputs: [2, 3, 4].map((day) => ({
        eventName: event,
        objectId: id,
        occurredAt: new Date(`2026-10-0${day}T12:00:00Z`),
        properties: { make: `Make ${day}` },
      })),
    });

    const api = client.events.eventsApi;
    const first = await api.getPage("contact", undefined, undefined, undefined, 2, undefined,
      undefined, undefined, Number(id));
    assert.ok(first.paging.next.after);
    const second = await api.getPage("contact", undefined, first.paging.next.after, undefined, 2,
      undefined, undefined, undefined, Number(id));
    const byEvent = await api.getPage("contact", event, undefined, undefined, 10, ["ASCENDING"],
      new Date("2026-10-02T00:00:00Z"), new Date("2026-10-04T00:00:00Z"));
    const types = await api.getTypes();
    const oldest = second.results[second.results.length - 1];
    return {
      first: first.results.map((e) => e.properties.make),
      second: second.results.map((e) => e.properties.make),
      secondHasNext: Boolean(second.paging && second.paging.next),
      oldest: {
        eventType: oldest.eventType,
        objectType: oldest.objectType,
        objectId: oldest.objectId,
        occurredAt: oldest.occurredAt.toISOString(),
        properties: oldest.properties,
      },
      byEvent: byEvent.results.map((e) => e.properties.make),
      eventTypes: types.eventTypes,
    };
  },

  // over the limit of `cbe serve --rate-limit 1/60s`: HubSpot's 429, with what the SDK's own
  // retry (numberOfApiCallRetries) looks for: policyName TEN_SECONDLY_ROLLING
  async ratelimited() {
    const first = await client.events.eventsApi.getTypesWithHttpInfo();
    try {
      await client.events.eventsApi.getTypes();
    } catch (error) {
      return {
        first: { status: first.httpStatusCode, remaining: first.headers["x-hubspot-ratelimit-remaining"] },
        code: error.code,
        policyName: error.body.policyName,
        errorType: error.body.errorType,
        retryAfter: error.headers["retry-after"],
        max: error.headers["x-hubspot-ratelimit-max"],
      };
    }
    assert.fail("the call over the limit was answered");
  },

  // the SDK's own retry (numberOfApiCallRetries) waits out a 429 of `--rate-limit 1/5s`: it
  // waits 10 s after a TEN_SECONDLY_ROLLING, by then the window has room again
  async retried() {
    const patient = new hubspot.Client({
      accessToken: process.env.CBE_TOKEN,
      basePath: process.env.CBE_URL,
      numberOfApiCallRetries: 2,
    });
    await patient.events.eventsApi.getTypes();
    const types = await patient.events.eventsApi.getTypes(); // 429, then 200 after the wait
    return { eventTypes: types.eventTypes };
  },

  // a refused send reaches the caller as the SDK's ApiException with HubSpot's error body
  async refused() {
    await defineViewedCar();
    try {
      await client.events.send.basicApi.send({
        eventName: "viewed_car",
        email: "ann@example.com",
        properties: {},
      });
    } catch (error) {
      return { code: error.code, category: error.body.category, message: error.body.message };
    }
    assert.fail("a send by the internal name alone was accepted");
  },
};

const step = steps[process.argv[2]];
if (!step) {
  console.error(`no step ${process.argv[2]}; steps: ${Object.keys(steps).join(", ")}`);
  process.exit(2);
}
step().then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    if (error && error.body) console.error(JSON.stringify(error.body));
    process.exit(1);
  },
);
