// Run endpoints through @chatbotkit/sdk: task.trigger, task.cancel, task.execution.list (+ .stream()) and
// task.execution.cancel. Executions are waited for by polling the API (bounded), never by schedules.
import { assert, client, expectFetchError, ids, lastPath, run, streamItems } from './common.mjs'

const EXECUTION_KEYS = ['id', 'name', 'description', 'meta', 'taskId', 'conversationId', 'status', 'outcome',
  'summary', 'completedAt', 'resumeAt', 'createdAt', 'updatedAt']
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

function assertExecution(x, taskId) {
  for (const key of EXECUTION_KEYS) {
    assert.ok(key in x, `execution lacks ${key}: ${JSON.stringify(x)}`)
  }
  assert.equal(x.taskId, taskId)
  assert.ok(['idle', 'running', 'canceled'].includes(x.status), x.status)
  assert.ok(['pending', 'success', 'failure'].includes(x.outcome), x.outcome)
  assert.equal(typeof x.createdAt, 'number')
  assert.equal(typeof x.updatedAt, 'number')
  for (const key of ['completedAt', 'resumeAt']) {
    // ISO strings, not epoch ms: PyPI chatbotkit 0.6 parses them with dateutil (README).
    assert.ok(x[key] === null || ISO.test(x[key]), `${key} = ${JSON.stringify(x[key])}`)
  }
}

async function until(what, fn, ms = 10_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const finished = (x) => x.status !== 'running' && x.outcome !== 'pending'

run(async () => {
  const cbk = client()
  const unknown = 'cm0000000000000000unknown'
  const { id: quickBot } = await cbk.bot.create({ name: 'quick' })
  const { id: slowBot } = await cbk.bot.create({ name: 'slow', abilities: [{ type: 'wait', config: { seconds: 30 } }] })

  // --- trigger and the execution history ----------------------------------------------------------
  const { id: t1 } = await cbk.task.create({ name: 'Quick job', botId: quickBot })
  const none = await cbk.task.execution.list(t1)
  assert.equal(lastPath(), `/api/v1/task/${t1}/execution/list`)
  assert.deepEqual(none, { items: [], cursor: '' })
  assert.deepEqual(await cbk.task.trigger(t1), { id: t1 }, 'trigger returns the task id')
  assert.equal(lastPath(), `/api/v1/task/${t1}/trigger`)
  const [x1] = await until('the first execution to finish', async () => {
    const { items } = await cbk.task.execution.list(t1)
    return items.length === 1 && finished(items[0]) && items
  })
  assertExecution(x1, t1)
  assert.equal(x1.status, 'idle')
  assert.equal(x1.outcome, 'success')
  assert.equal(typeof x1.summary, 'string')
  assert.ok(ISO.test(x1.completedAt))
  assert.ok(Date.parse(x1.completedAt) >= x1.createdAt - 1000)
  if (x1.conversationId !== null) {
    const conversation = await cbk.conversation.fetch(x1.conversationId)
    assert.equal(conversation.taskId, t1)
  }
  const task1 = await until('the task to be idle', async () => {
    const task = await cbk.task.fetch(t1)
    return task.status === 'idle' && task.outcome !== 'pending' && task
  })
  assert.equal(task1.outcome, 'success')
  assert.equal(typeof task1.lastRunAt, 'number')
  assert.equal(task1.nextRunAt, null, 'a trigger does not schedule anything')

  await cbk.task.trigger(t1)
  await cbk.task.trigger(t1)
  const history = await until('three finished executions', async () => {
    const { items } = await cbk.task.execution.list(t1)
    return items.length === 3 && items.every(finished) && items
  })
  history.forEach((x) => assertExecution(x, t1))
  const asc = await cbk.task.execution.list(t1, { order: 'asc', take: 2 })
  assert.equal(lastPath(), `/api/v1/task/${t1}/execution/list?order=asc&take=2`)
  assert.deepEqual(ids(asc.items), ids(history).reverse().slice(0, 2))
  const next = await cbk.task.execution.list(t1, { order: 'asc', cursor: asc.cursor })
  assert.deepEqual(ids(next.items), [ids(history)[0]])
  assert.deepEqual(ids(await streamItems(cbk.task.execution.list(t1))), ids(history))
  assert.deepEqual(ids(await streamItems(cbk.task.execution.list(t1, { take: 1 }))), [ids(history)[0]])
  assert.deepEqual((await cbk.task.execution.list(t1, { status: 'canceled' })).items, [])
  assert.deepEqual(ids((await cbk.task.execution.list(t1, { status: 'idle' })).items), ids(history))
  assert.deepEqual(await cbk.task.cancel(t1), { id: t1 }, 'cancel with nothing running is a 200 no-op')
  assert.equal(lastPath(), `/api/v1/task/${t1}/cancel`)
  assert.equal((await cbk.task.execution.list(t1, { status: 'canceled' })).items.length, 0)

  // --- execution.cancel on a running execution ----------------------------------------------------
  const { id: t2 } = await cbk.task.create({ name: 'Slow job', botId: slowBot, schedule: 'daily' })
  await cbk.task.trigger(t2)
  const [running] = await until('the slow execution to run', async () => {
    const { items } = await cbk.task.execution.list(t2, { status: 'running' })
    return items.length === 1 && items
  })
  assertExecution(running, t2)
  assert.equal(running.completedAt, null)
  await until('the task to show running', async () => (await cbk.task.fetch(t2)).status === 'running')
  assert.deepEqual(ids((await cbk.task.list({ status: 'running' })).items), [t2])
  assert.deepEqual(ids(await streamItems(cbk.task.execution.list(t2, { status: 'running' }))), [running.id])

  await expectFetchError(cbk.task.execution.cancel(t2, unknown), 'NOT_FOUND')
  await expectFetchError(cbk.task.execution.cancel(t1, running.id), 'NOT_FOUND', /Not found/)
  await expectFetchError(cbk.task.execution.cancel(unknown, running.id), 'NOT_FOUND')
  const canceled = await cbk.task.execution.cancel(t2, running.id)
  assert.equal(lastPath(), `/api/v1/task/${t2}/execution/${running.id}/cancel`)
  assert.deepEqual(canceled, { id: running.id, taskId: t2 })
  const [after] = await until('the execution to be canceled', async () => {
    const { items } = await cbk.task.execution.list(t2)
    return items.length === 1 && items[0].status === 'canceled' && items
  })
  assertExecution(after, t2)
  assert.equal(after.outcome, 'failure')
  assert.ok(ISO.test(after.completedAt))
  assert.equal(typeof after.summary, 'string')
  const t2After = await until('the task to be idle', async () => {
    const task = await cbk.task.fetch(t2)
    return task.status === 'idle' && task
  })
  assert.equal(t2After.outcome, 'failure')
  assert.ok(t2After.nextRunAt > Date.now(), 'nextRunAt recomputed after a cancel')
  assert.deepEqual(await cbk.task.execution.cancel(t2, running.id), { id: running.id, taskId: t2 },
    'canceling a finished execution is a no-op')

  // --- task.cancel on a running task --------------------------------------------------------------
  await cbk.task.trigger(t2)
  await until('the second slow execution to run', async () =>
    (await cbk.task.execution.list(t2, { status: 'running' })).items.length === 1)
  assert.deepEqual(await cbk.task.cancel(t2), { id: t2 })
  const all2 = await until('every execution to be canceled', async () => {
    const { items } = await cbk.task.execution.list(t2)
    return items.length === 2 && items.every((x) => x.status === 'canceled') && items
  })
  all2.forEach((x) => assertExecution(x, t2))
  assert.ok(all2.every((x) => x.outcome === 'failure' && ISO.test(x.completedAt)))
  await until('the task to be idle again', async () => (await cbk.task.fetch(t2)).status === 'idle')

  // --- a task without a bot fails its run ---------------------------------------------------------
  const { id: t3 } = await cbk.task.create({ name: 'No bot' })
  assert.deepEqual(await cbk.task.trigger(t3), { id: t3 })
  const [x3] = await until('the bot-less execution to finish', async () => {
    const { items } = await cbk.task.execution.list(t3)
    return items.length === 1 && finished(items[0]) && items
  })
  assertExecution(x3, t3)
  assert.equal(x3.outcome, 'failure')

  // --- errors -------------------------------------------------------------------------------------
  await expectFetchError(cbk.task.trigger(unknown), 'NOT_FOUND')
  await expectFetchError(cbk.task.cancel(unknown), 'NOT_FOUND')
  await expectFetchError(cbk.task.execution.list(unknown), 'NOT_FOUND')
  await expectFetchError(client({ secret: 'sk-bad' }).task.trigger(t1), 'NOT_AUTHENTICATED')
  await cbk.task.delete(t1)
  await expectFetchError(cbk.task.execution.list(t1), 'NOT_FOUND')

  return { executions: history.length + all2.length + 1 }
})
