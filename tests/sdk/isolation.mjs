// Two accounts (SECRET and SECRET_B): nothing one creates is visible to, or changeable by, the other.
import { assert, client, expectFetchError, ids, run, streamItems } from './common.mjs'

run(async () => {
  assert.ok(process.env.SECRET_B, 'SECRET_B must be set')
  const a = client()
  const b = client({ secret: process.env.SECRET_B })
  let foreignChecked = 0
  const denied = async (p) => {
    foreignChecked++
    await expectFetchError(p, 'NOT_FOUND')
  }

  const { id: bot } = await a.bot.create({ name: 'A bot' })
  const { id: contact } = await a.contact.create({ name: 'A contact' })
  const { id: task } = await a.task.create({ name: 'A task', botId: bot, contactId: contact, meta: { k: 'v' } })
  const { id: own } = await b.task.create({ name: 'B task', meta: { k: 'v' } })

  await denied(b.task.fetch(task))
  await denied(b.task.update(task, { name: 'hijacked' }))
  await denied(b.task.delete(task))
  await denied(b.bot.fetch(bot))
  await denied(b.bot.update(bot, { name: 'hijacked' }))
  await denied(b.bot.delete(bot))
  await denied(b.contact.fetch(contact))
  await denied(b.contact.update(contact, { name: 'hijacked' }))
  await denied(b.contact.delete(contact))
  await denied(b.contact.task.list(contact))
  await denied(b.task.create({ botId: bot }))
  await denied(b.task.create({ contactId: contact }))
  await denied(b.task.update(own, { botId: bot }))

  assert.deepEqual(ids((await b.task.list()).items), [own])
  assert.deepEqual(ids((await b.task.list({ botId: bot })).items), [])
  assert.deepEqual(ids((await b.task.list({ meta: { k: 'v' } })).items), [own])
  assert.deepEqual(ids(await streamItems(b.task.list())), [own])
  assert.deepEqual(ids((await b.task.export()).items), [own])
  assert.deepEqual(ids((await b.bot.list()).items), [])
  assert.deepEqual(ids((await b.contact.list()).items), [])
  // A cursor naming the other account's task must not leak anything either.
  assert.deepEqual(ids((await b.task.list({ cursor: task })).items).filter((i) => i === task), [])

  const still = await a.task.fetch(task)
  assert.equal(still.name, 'A task')
  assert.equal(still.botId, bot)
  assert.deepEqual(ids((await a.task.list()).items), [task])
  return { foreignChecked }
})
