// task.subscribe(id, {historyLength}).stream(): POST with Accept: application/jsonl, JSONL events with
// {type, createdAt, data}; the stream stays open until the client aborts it.
import { assert, client, collect, expectFetchError, lastPath, lastRequest, requests, run } from './common.mjs'

const TYPES = new Set(['executionBegin', 'executionEnd', 'operationBegin', 'operationEnd', 'error', 'nop', 'ping', 'item', 'result'])

// Read the subscription for `ms`, then abort (the SDK's JSONL reader ends quietly on AbortError).
async function readFor(responsePromise, ms) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), ms)
  const events = []
  try {
    for await (const event of responsePromise.stream({ abortSignal: controller.signal })) {
      events.push(event)
    }
  } catch (e) {
    if (e?.name !== 'AbortError') throw e // aborted before the response head arrived
  } finally {
    clearTimeout(timer)
  }
  return events
}

run(async () => {
  const cbk = client()
  const { id: bot } = await cbk.bot.create({ name: 'quick' })
  const { id: taskId } = await cbk.task.create({ name: 'Observed', botId: bot })
  await cbk.task.trigger(taskId)
  const deadline = Date.now() + 10_000
  while (!(await cbk.task.execution.list(taskId)).items.some((x) => x.status !== 'running' && x.outcome !== 'pending')) {
    assert.ok(Date.now() < deadline, 'timed out waiting for the execution')
    await new Promise((r) => setTimeout(r, 50))
  }

  const before = requests.length
  const events = await readFor(cbk.task.subscribe(taskId, { historyLength: 50 }), 1500)
  const req = requests[before]
  assert.equal(req.method, 'POST')
  assert.equal(new URL(req.url).pathname, `/api/v1/task/${taskId}/subscribe`)
  assert.equal(req.accept, 'application/jsonl')
  assert.equal(req.status, 200)
  assert.match(req.contentType, /^application\/jsonl/)
  for (const event of events) {
    assert.ok(TYPES.has(event.type), `unexpected event ${JSON.stringify(event)}`)
    assert.equal(typeof event.createdAt, 'number', JSON.stringify(event))
    if (event.type === 'operationBegin' || event.type === 'operationEnd') {
      assert.equal(typeof event.data.id, 'string')
      assert.equal(typeof event.data.action, 'object')
      assert.equal(typeof event.data.action.id, 'string')
    }
    if (event.type === 'error') {
      assert.equal(typeof event.data.code, 'string')
      assert.equal(typeof event.data.message, 'string')
    }
  }
  const live = await readFor(cbk.task.subscribe(taskId), 300)
  assert.ok(Array.isArray(live), 'a subscription without history opens too')
  assert.equal(lastPath(), `/api/v1/task/${taskId}/subscribe`)

  await expectFetchError(collect(cbk.task.subscribe('cm0000000000000000unknown').stream()), 'NOT_FOUND')
  await expectFetchError(collect(cbk.task.subscribe(taskId, { historyLength: 5000 }).stream()), 'BAD_REQUEST')
  await expectFetchError(collect(client({ secret: 'sk-bad' }).task.subscribe(taskId).stream()), 'NOT_AUTHENTICATED')
  assert.equal(lastRequest().method, 'POST')
  return { events: events.length, types: [...new Set(events.map((e) => e.type))] }
})
