// The life of an execution through task.subscribe(id).stream(): executionBegin, the run's operations and
// executionEnd in order for a triggered run; for a run cancelled inside a `wait` tool, an operationEnd with
// error CANCELED for that operation before its executionEnd.
import { assert, client, run } from './common.mjs'

// Read events from a subscription until `done(event)` (pings left out), then abort the stream.
async function readUntil(cbk, taskId, done, onEvent = async () => {}, ms = 20_000) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), ms)
  const events = []
  try {
    // historyLength: events written before the stream registered are replayed, so none is missed
    for await (const event of cbk.task.subscribe(taskId, { historyLength: 1000 }).stream({ abortSignal: controller.signal })) {
      if (event.type === 'ping') continue
      events.push(event)
      await onEvent(event)
      if (done(event)) break
    }
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  assert.ok(events.length && done(events.at(-1)), `stream ended early: ${JSON.stringify(events)}`)
  return events
}

function checkFrame(events) {
  const [begin, end] = [events[0], events.at(-1)]
  assert.equal(begin.type, 'executionBegin', JSON.stringify(begin))
  assert.equal(end.type, 'executionEnd', JSON.stringify(end))
  assert.equal(end.data.executionId, begin.data.executionId)
  const open = new Set()
  for (const e of events.slice(1, -1)) {
    assert.ok(['operationBegin', 'operationEnd'].includes(e.type), JSON.stringify(e))
    if (e.type === 'operationBegin') open.add(e.data.id)
    else assert.ok(open.delete(e.data.id), `operationEnd without its begin: ${JSON.stringify(e)}`)
  }
  assert.equal(open.size, 0, `operations left open: ${[...open]}`)
  return [begin.data, end.data]
}

run(async () => {
  const cbk = client()
  const quick = await cbk.bot.create({ name: 'quick', model: 'test', abilities: [{ type: 'wait', config: { seconds: 0.2 } }] })
  const { id: t1 } = await cbk.task.create({ name: 'Framed', botId: quick.id })
  const triggered = cbk.task.trigger(t1)
  const events = await readUntil(cbk, t1, (e) => e.type === 'executionEnd')
  await triggered
  const [begin, end] = checkFrame(events)
  assert.equal(begin.taskId, t1)
  assert.equal(begin.trigger, 'trigger')
  assert.equal(begin.attempt, 1)
  assert.deepEqual([end.status, end.outcome], ['idle', 'success'])
  const names = events.filter((e) => e.type === 'operationBegin').map((e) => e.data.action.name)
  assert.ok(names.includes('wait') && names.includes('model:test'), names.join())

  const slow = await cbk.bot.create({ name: 'slow', model: 'test', abilities: [{ type: 'wait', config: { seconds: 30 } }] })
  const { id: t2 } = await cbk.task.create({ name: 'Cancelled', botId: slow.id })
  await cbk.task.trigger(t2)
  let waitOp = null
  const cancelled = await readUntil(cbk, t2, (e) => e.type === 'executionEnd', async (e) => {
    if (e.type === 'operationBegin' && e.data.action.name === 'wait') {
      waitOp = e.data
      await cbk.task.execution.cancel(t2, e.data.id.slice(0, e.data.id.lastIndexOf('-')))
    }
  })
  const [, cancelEnd] = checkFrame(cancelled)
  assert.ok(waitOp, 'the wait operation began')
  const closing = cancelled.at(-2)
  assert.equal(closing.type, 'operationEnd')
  assert.equal(closing.data.id, waitOp.id)
  assert.equal(closing.data.error.code, 'CANCELED')
  assert.equal(typeof closing.data.error.message, 'string')
  assert.deepEqual([cancelEnd.status, cancelEnd.outcome], ['canceled', 'failure'])
  return { events: events.length, cancelled: cancelled.length }
})
