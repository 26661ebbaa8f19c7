// FetchError codes and messages the SDK raises from agentcron's error envelope {"message","code"}:
// 404 NOT_FOUND, 401 NOT_AUTHENTICATED, 400 BAD_REQUEST. The server must never answer 5xx (the SDK would
// retry 3 times); common.mjs checks every exchange.
import { assert, client, expectFetchError, run } from './common.mjs'

run(async () => {
  const cbk = client()
  let checked = 0
  const check = async (promiseOrFn, code, message) => {
    checked++
    return expectFetchError(promiseOrFn, code, message)
  }
  const unknown = 'cm0000000000000000unknown'

  // --- 404 for ids this account does not have ----------------------------------------------------
  const notFound = await check(cbk.task.fetch(unknown), 'NOT_FOUND')
  assert.equal(notFound.message, 'Not found')
  await check(cbk.task.update(unknown, { name: 'x' }), 'NOT_FOUND')
  await check(cbk.task.delete(unknown), 'NOT_FOUND')
  await check(cbk.bot.fetch(unknown), 'NOT_FOUND')
  await check(cbk.bot.update(unknown, {}), 'NOT_FOUND')
  await check(cbk.bot.delete(unknown), 'NOT_FOUND')
  await check(cbk.contact.fetch(unknown), 'NOT_FOUND')
  await check(cbk.contact.update(unknown, {}), 'NOT_FOUND')
  await check(cbk.contact.delete(unknown), 'NOT_FOUND')
  await check(cbk.contact.task.list(unknown), 'NOT_FOUND')
  await check(cbk.task.create({ name: 'x', botId: unknown }), 'NOT_FOUND', /^Bot not found$/)
  await check(cbk.task.create({ name: 'x', contactId: unknown }), 'NOT_FOUND', /^Contact not found$/)
  // A stream request fails before any line is read: the error surfaces from the iterator.
  await check(async () => {
    for await (const _ of cbk.contact.task.list(unknown).stream()) {
      assert.fail('no line expected')
    }
  }, 'NOT_FOUND')

  // --- 401 with a bad, or no, secret --------------------------------------------------------------
  const bad = client({ secret: 'sk-not-a-real-secret' })
  const unauth = await check(bad.task.list(), 'NOT_AUTHENTICATED')
  assert.ok(unauth.message.length > 0)
  await check(bad.task.create({ name: 'x' }), 'NOT_AUTHENTICATED')
  await check(bad.task.fetch(unknown), 'NOT_AUTHENTICATED')
  await check(bad.task.export(), 'NOT_AUTHENTICATED')
  await check(bad.bot.list(), 'NOT_AUTHENTICATED')
  await check(bad.contact.create({}), 'NOT_AUTHENTICATED')
  await check(async () => {
    for await (const _ of bad.task.list().stream()) {
      assert.fail('no line expected')
    }
  }, 'NOT_AUTHENTICATED')
  const none = client({ secret: '' }) // the SDK then sends no authorization header at all
  await check(none.task.list(), 'NOT_AUTHENTICATED')

  // --- 400 for invalid input ----------------------------------------------------------------------
  const badSchedule = await check(cbk.task.create({ name: 'x', schedule: 'every full moon' }), 'BAD_REQUEST',
    /^Invalid schedule/)
  assert.ok(badSchedule.message.length > 'Invalid schedule'.length, 'the message says what is wrong')
  await check(cbk.task.create({ schedule: '61 * * * *' }), 'BAD_REQUEST', /^Invalid schedule/)
  await check(cbk.task.create({ schedule: 'daily', timezone: 'Mars/Olympus' }), 'BAD_REQUEST', /timezone/i)
  await check(cbk.task.create({ sessionDuration: 7_200_000 }), 'BAD_REQUEST', /sessionDuration/)
  await check(cbk.task.create({ maxIterations: -1 }), 'BAD_REQUEST', /maxIterations/)
  await check(cbk.task.create({ maxTime: 86_400_001 }), 'BAD_REQUEST', /maxTime/)
  await check(cbk.task.create({ name: 42 }), 'BAD_REQUEST', /name/)
  await check(cbk.task.create({ meta: 'not an object' }), 'BAD_REQUEST', /meta/)
  await check(cbk.task.list({ take: 'many' }), 'BAD_REQUEST', /take/)
  await check(cbk.task.list({ cursor: 'not-a-cursor' }), 'BAD_REQUEST', /cursor/)
  const { id } = await cbk.task.create({ name: 'valid', schedule: 'daily' })
  await check(cbk.task.update(id, { schedule: 'sometimes' }), 'BAD_REQUEST', /^Invalid schedule/)
  const unchanged = await cbk.task.fetch(id)
  assert.equal(unchanged.schedule, 'daily', 'a refused update changes nothing')
  await check(cbk.task.update(id, { sessionDuration: 3_600_001 }), 'BAD_REQUEST')
  await check(client({ headers: { accept: 'text/html' } }).task.list(), 'BAD_REQUEST', /accept/i)

  // --- the FetchError shape ----------------------------------------------------------------------
  assert.equal(notFound.name, 'FetchError')
  assert.ok(notFound instanceof Error)
  assert.ok(!('status' in notFound), 'the SDK does not expose the HTTP status')

  return { checked }
})
