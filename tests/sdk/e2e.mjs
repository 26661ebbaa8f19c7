// End to end with the official JS SDK: create a bot with abilities and a task, subscribe with .stream()
// BEFORE triggering, trigger, and check the whole run: the event sequence (model requests and tool calls
// as operationBegin/operationEnd pairs), the execution's outcome and summary, the conversation's messages.
import { assert, client, run } from './common.mjs'

run(async () => {
  const cbk = client()
  const { id: botId } = await cbk.bot.create({
    name: 'Reporter',
    backstory: 'You write short reports.',
    model: 'test',
    abilities: [
      { type: 'time', name: 'clock', config: { timezone: 'Europe/Berlin' } },
      { type: 'wait', name: 'pause', config: { seconds: 0.2 } },
    ],
  })
  const { id: taskId } = await cbk.task.create({ name: 'Morning report', description: 'Say what time it is', botId })

  const controller = new AbortController()
  const events = []
  const reading = (async () => {
    try {
      for await (const event of cbk.task.subscribe(taskId).stream({ abortSignal: controller.signal })) {
        events.push(event)
      }
    } catch (e) {
      if (e?.name !== 'AbortError') throw e
    }
  })()
  await new Promise((r) => setTimeout(r, 300)) // the stream is open before the run starts
  assert.deepEqual(await cbk.task.trigger(taskId), { id: taskId })

  const deadline = Date.now() + 15_000
  let execution
  while (true) {
    assert.ok(Date.now() < deadline, 'timed out waiting for the run')
    const { items } = await cbk.task.execution.list(taskId)
    execution = items.find((x) => x.outcome !== 'pending')
    if (execution) break
    await new Promise((r) => setTimeout(r, 50))
  }
  await new Promise((r) => setTimeout(r, 300)) // let the last events arrive
  controller.abort()
  await reading

  // The run itself.
  assert.equal(execution.status, 'idle')
  assert.equal(execution.outcome, 'success', execution.summary)
  assert.match(execution.summary, /Morning report/)
  assert.ok(execution.conversationId)

  // Events: no pings expected in 1 s; the run framed by executionBegin/executionEnd; every begin has its
  // end, tools in order, model requests around them.
  assert.equal(events[0]?.type, 'executionBegin', JSON.stringify(events[0]))
  assert.equal(events.at(-1)?.type, 'executionEnd', JSON.stringify(events.at(-1)))
  assert.equal(events.at(-1).data.outcome, 'success')
  const ops = events.filter((e) => e.type === 'operationBegin' || e.type === 'operationEnd')
  assert.equal(ops.length, events.length - 2, `unexpected events ${JSON.stringify(events)}`)
  for (const e of ops) {
    assert.equal(typeof e.createdAt, 'number')
    assert.equal(typeof e.data.id, 'string')
    assert.equal(typeof e.data.action.id, 'string')
    assert.equal(e.data.action.kind, 'function')
  }
  const open = new Map()
  const sequence = []
  for (const e of ops) {
    if (e.type === 'operationBegin') {
      assert.ok(!open.has(e.data.id), `operation ${e.data.id} began twice`)
      open.set(e.data.id, e)
      sequence.push(e.data.action.name)
    } else {
      assert.ok(open.has(e.data.id), `operation ${e.data.id} ended without beginning`)
      open.delete(e.data.id)
    }
  }
  assert.equal(open.size, 0, 'every operation ended')
  const tools = sequence.filter((n) => !n.startsWith('model:'))
  assert.deepEqual(tools, ['clock', 'pause'])
  assert.ok(sequence[0].startsWith('model:'), `a model request comes first: ${sequence}`)
  assert.ok(sequence[sequence.length - 1].startsWith('model:'), `a model request writes the summary: ${sequence}`)
  const clockBegin = ops.find((e) => e.type === 'operationBegin' && e.data.action.name === 'clock')
  assert.deepEqual(clockBegin.data.action.input, { timezone: 'Europe/Berlin' })

  // The conversation: linked to the task, holding the instruction, the tool activity and the summary.
  const conversation = await cbk.conversation.fetch(execution.conversationId)
  assert.equal(conversation.taskId, taskId)
  assert.equal(conversation.botId, botId)
  assert.deepEqual(conversation.meta, { app: 'task', taskId })
  const { items: messages } = await cbk.conversation.message.list(execution.conversationId, { order: 'asc' })
  assert.equal(messages[0].type, 'user')
  assert.match(messages[0].text, /Morning report/)
  assert.equal(messages[messages.length - 1].type, 'bot')
  assert.equal(messages[messages.length - 1].text, execution.summary)
  assert.ok(messages.some((m) => m.type === 'activity' && /clock/.test(m.text)), JSON.stringify(messages))

  // Reconnecting replays the persisted run from history.
  const replay = new AbortController()
  const replayed = []
  const t = setTimeout(() => replay.abort(), 1000)
  try {
    for await (const e of cbk.task.subscribe(taskId, { historyLength: 1000 }).stream({ abortSignal: replay.signal })) {
      replayed.push(e)
      if (replayed.length === events.length) break
    }
  } catch (e) {
    if (e?.name !== 'AbortError') throw e
  } finally {
    clearTimeout(t)
  }
  assert.deepEqual(replayed.map((e) => [e.type, e.data.id ?? e.data.executionId]), events.map((e) => [e.type, e.data.id ?? e.data.executionId]))
  return { events: ops.length, sequence, messages: messages.length }
})
