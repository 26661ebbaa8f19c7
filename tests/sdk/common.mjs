// Shared helpers for the SDK conformance scripts. Each script is run by tests/test_sdk_*.py as
// `node tests/sdk/<script>.mjs` with BASE_URL (a running agentcron) and SECRET (a fresh account's secret).
// A script asserts with node:assert and prints one JSON summary line on success; any failure exits 1.
import assert from 'node:assert/strict'

import { FetchError } from '@chatbotkit/fetch'
import { ChatBotKit } from '@chatbotkit/sdk'

export { assert, ChatBotKit, FetchError }

export const BASE_URL = process.env.BASE_URL
export const SECRET = process.env.SECRET
assert.ok(BASE_URL, 'BASE_URL must be set')
assert.ok(SECRET, 'SECRET must be set')

// Every HTTP exchange the SDK makes (the SDK's fetch looks up globalThis.fetch at call time, so this
// wrapper sees retries too). The server must never answer 5xx: the SDK would silently retry it 3 times.
export const requests = []
const nativeFetch = globalThis.fetch
globalThis.fetch = async (url, init = {}) => {
  // As fetch does, join same-named headers (the SDK may set both `accept` and `Accept`).
  const headers = new Headers(init.headers || {})
  const accept = headers.get('accept')
  const entry = { method: init.method || 'GET', url: String(url), accept, status: null }
  requests.push(entry)
  const response = await nativeFetch(url, init)
  entry.status = response.status
  entry.contentType = response.headers.get('content-type')
  return response
}

export function client(options = {}) {
  return new ChatBotKit({ secret: SECRET, baseUrl: BASE_URL, ...options })
}

export function lastRequest() {
  return requests[requests.length - 1]
}

// The path and query of the last request, e.g. "/api/v1/task/list?take=2".
export function lastPath() {
  const u = new URL(lastRequest().url)
  return u.pathname + u.search
}

export async function collect(iterable) {
  const out = []
  for await (const event of iterable) {
    out.push(event)
  }
  return out
}

// Stream a list and return the `data` of its item events, checking every line is an item event.
export async function streamItems(responsePromise) {
  const events = await collect(responsePromise.stream())
  for (const event of events) {
    assert.equal(event.type, 'item', `unexpected stream event ${JSON.stringify(event)}`)
  }
  assert.equal(lastRequest().accept, 'application/jsonl')
  assert.match(lastRequest().contentType, /^application\/jsonl/)
  return events.map((e) => e.data)
}

// Await `promiseOrFn` and expect a FetchError with `code` (and a message matching `message`).
export async function expectFetchError(promiseOrFn, code, message) {
  let error = null
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn)
  } catch (e) {
    error = e
  }
  assert.ok(error, `expected FetchError ${code}, but the call succeeded`)
  assert.ok(error instanceof FetchError, `expected a FetchError, got ${error?.stack || error}`)
  assert.equal(error.name, 'FetchError')
  assert.equal(error.code, code, `code of ${error.message}`)
  assert.equal(typeof error.message, 'string')
  assert.ok(error.message.length > 0)
  if (message !== undefined) {
    assert.match(error.message, message)
  }
  return error
}

export function assertNoServerErrors() {
  const bad = requests.filter((r) => r.status === null || r.status >= 500)
  assert.deepEqual(bad, [], 'the server answered 5xx (the SDK retries those) or not at all')
}

const TASK_KEYS = [
  'id', 'name', 'description', 'meta', 'blueprintId', 'botId', 'contactId', 'schedule', 'timezone',
  'sessionDuration', 'maxIterations', 'maxTime', 'status', 'outcome', 'lastRunAt', 'nextRunAt',
  'expiresAt', 'createdAt', 'updatedAt',
]
export const TASK_EXPORT_OMITS = ['status', 'outcome', 'lastRunAt', 'nextRunAt', 'expiresAt', 'blueprintId']

// A task object as the contract (section 3) describes it: every key present, null when empty.
export function assertTask(task, { exported = false } = {}) {
  for (const key of TASK_KEYS) {
    if (exported && TASK_EXPORT_OMITS.includes(key)) {
      assert.ok(!(key in task), `export must omit ${key}`)
    } else {
      assert.ok(key in task, `task lacks ${key}: ${JSON.stringify(task)}`)
    }
  }
  assert.equal(typeof task.id, 'string')
  assert.equal(typeof task.name, 'string')
  assert.equal(typeof task.description, 'string')
  assert.equal(typeof task.createdAt, 'number')
  assert.equal(typeof task.updatedAt, 'number')
  if (!exported) {
    assert.ok(['idle', 'running', 'canceled'].includes(task.status), task.status)
    assert.ok(['pending', 'success', 'failure'].includes(task.outcome), task.outcome)
    for (const key of ['lastRunAt', 'nextRunAt', 'expiresAt']) {
      assert.ok(task[key] === null || typeof task[key] === 'number', `${key} = ${task[key]}`)
    }
  }
  assert.ok(!('maxCalls' in task), 'maxCalls is write-only')
}

export function ids(items) {
  return items.map((item) => item.id)
}

// Run `main`, then print its summary (plus the request count) as JSON; exit 1 on any failure.
export async function run(main) {
  try {
    const summary = (await main()) || {}
    assertNoServerErrors()
    summary.requests = requests.length
    console.log(JSON.stringify(summary))
  } catch (e) {
    console.error(e?.stack || e)
    console.error('requests:', JSON.stringify(requests.slice(-5), null, 1))
    process.exit(1)
  }
}
