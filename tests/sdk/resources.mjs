// Bots and contacts through @chatbotkit/sdk: create, list (paging, filters, .stream()), fetch, update,
// delete, and the effect of deleting one on the tasks that reference it.
import { assert, client, expectFetchError, ids, lastPath, run, streamItems } from './common.mjs'

const BOT_KEYS = ['id', 'name', 'description', 'meta', 'backstory', 'model', 'datasetId', 'skillsetId',
  'privacy', 'moderation', 'visibility', 'createdAt', 'updatedAt']
const CONTACT_KEYS = ['id', 'name', 'description', 'meta', 'fingerprint', 'email', 'phone', 'nick',
  'preferences', 'verifiedAt', 'createdAt', 'updatedAt']

function assertKeys(obj, keys) {
  for (const key of keys) {
    assert.ok(key in obj, `${key} missing from ${JSON.stringify(obj)}`)
  }
  assert.equal(typeof obj.createdAt, 'number')
  assert.equal(typeof obj.updatedAt, 'number')
}

run(async () => {
  const cbk = client()

  // --- bots ---------------------------------------------------------------------------------------
  const botReq = {
    name: 'Researcher',
    description: 'Finds things',
    backstory: 'You are thorough.',
    model: 'gpt-4o',
    privacy: true,
    moderation: false,
    visibility: 'private',
    meta: { team: 'r', _secret: 1 },
  }
  const { id: b1 } = await cbk.bot.create(botReq)
  assert.equal(lastPath(), '/api/v1/bot/create')
  const { id: b2 } = await cbk.bot.create({ name: 'Second', model: { name: 'gpt-4o-mini', config: { temperature: 0.5 } } })
  const { id: b3 } = await cbk.bot.create({})
  const bot = await cbk.bot.fetch(b1)
  assert.equal(lastPath(), `/api/v1/bot/${b1}/fetch`)
  assertKeys(bot, BOT_KEYS)
  for (const key of ['name', 'description', 'backstory', 'model', 'privacy', 'moderation', 'visibility']) {
    assert.deepEqual(bot[key], botReq[key], key)
  }
  assert.deepEqual(bot.meta, { team: 'r' })
  const bot2 = await cbk.bot.fetch(b2)
  assert.equal(typeof bot2.model, 'string')
  assert.match(bot2.model, /^gpt-4o-mini/, 'the SDK sends a model object as a parameter string')
  const bot3 = await cbk.bot.fetch(b3)
  assert.equal(bot3.name, '')
  assert.equal(bot3.meta, null)

  const bots = await cbk.bot.list()
  assert.equal(lastPath(), '/api/v1/bot/list')
  assert.deepEqual(new Set(ids(bots.items)), new Set([b1, b2, b3]))
  bots.items.forEach((b) => assertKeys(b, BOT_KEYS))
  assert.equal(bots.cursor, bots.items.at(-1).id)
  const bp1 = await cbk.bot.list({ take: 2, order: 'asc' })
  const bp2 = await cbk.bot.list({ take: 2, order: 'asc', cursor: bp1.cursor })
  assert.deepEqual([...ids(bp1.items), ...ids(bp2.items)], ids(bots.items).reverse())
  const bMeta = await cbk.bot.list({ meta: { team: 'r' } })
  assert.deepEqual(ids(bMeta.items), [b1])
  const botStream = await streamItems(cbk.bot.list())
  assert.deepEqual(ids(botStream), ids(bots.items))
  const botStreamTake = await streamItems(cbk.bot.list({ take: 1, order: 'asc' }))
  assert.deepEqual(ids(botStreamTake), [ids(bots.items).at(-1)])

  assert.deepEqual(await cbk.bot.update(b1, { name: 'Researcher 2', meta: { $update: { extra: true } } }), { id: b1 })
  assert.equal(lastPath(), `/api/v1/bot/${b1}/update`)
  const botAfter = await cbk.bot.fetch(b1)
  assert.equal(botAfter.name, 'Researcher 2')
  assert.equal(botAfter.backstory, 'You are thorough.', 'partial update keeps other fields')
  assert.equal(botAfter.model, 'gpt-4o', 'the SDK sends model: undefined, i.e. no model key')
  assert.deepEqual(botAfter.meta, { team: 'r', extra: true })
  await cbk.bot.update(b1, { model: 'claude-x' })
  assert.equal((await cbk.bot.fetch(b1)).model, 'claude-x')

  // --- contacts -----------------------------------------------------------------------------------
  const contactReq = {
    name: 'Ada',
    description: 'Mathematician',
    email: 'ada@example.com',
    phone: '+44 20 0000 0000',
    nick: 'ada',
    preferences: 'Short answers',
    fingerprint: 'fp-ada',
    verifiedAt: 1_700_000_000_000,
    meta: { tier: 'gold' },
  }
  const { id: c1 } = await cbk.contact.create(contactReq)
  assert.equal(lastPath(), '/api/v1/contact/create')
  const { id: c2 } = await cbk.contact.create({ name: 'Grace' })
  const { id: c3 } = await cbk.contact.create({})
  const contact = await cbk.contact.fetch(c1)
  assert.equal(lastPath(), `/api/v1/contact/${c1}/fetch`)
  assertKeys(contact, CONTACT_KEYS)
  for (const key of Object.keys(contactReq)) {
    assert.deepEqual(contact[key], contactReq[key], key)
  }
  const contact3 = await cbk.contact.fetch(c3)
  assert.equal(typeof contact3.fingerprint, 'string', 'fingerprint is always present')
  assert.ok(contact3.fingerprint.length > 0)
  assert.equal(contact3.email, null)

  const contacts = await cbk.contact.list()
  assert.equal(lastPath(), '/api/v1/contact/list')
  assert.deepEqual(new Set(ids(contacts.items)), new Set([c1, c2, c3]))
  contacts.items.forEach((c) => assertKeys(c, CONTACT_KEYS))
  const cp1 = await cbk.contact.list({ take: 1 })
  const cp2 = await cbk.contact.list({ take: 5, cursor: cp1.cursor })
  assert.deepEqual([...ids(cp1.items), ...ids(cp2.items)], ids(contacts.items))
  const cMeta = await cbk.contact.list({ meta: { tier: 'gold' } })
  assert.deepEqual(ids(cMeta.items), [c1])
  const contactStream = await streamItems(cbk.contact.list())
  assert.deepEqual(ids(contactStream), ids(contacts.items))
  const contactStreamAsc = await streamItems(cbk.contact.list({ order: 'asc' }))
  assert.deepEqual(ids(contactStreamAsc), ids(contacts.items).reverse())

  assert.deepEqual(await cbk.contact.update(c2, { email: 'grace@example.com', meta: { tier: 'silver' } }), { id: c2 })
  assert.equal(lastPath(), `/api/v1/contact/${c2}/update`)
  const c2After = await cbk.contact.fetch(c2)
  assert.equal(c2After.email, 'grace@example.com')
  assert.equal(c2After.name, 'Grace')
  assert.deepEqual(c2After.meta, { tier: 'silver' })
  const fp = c2After.fingerprint
  await cbk.contact.update(c2, { nick: 'amazing' })
  assert.equal((await cbk.contact.fetch(c2)).fingerprint, fp, 'fingerprint survives updates')

  // --- deleting a bot or contact unlinks it from its tasks ---------------------------------------
  const { id: t1 } = await cbk.task.create({ name: 'linked', botId: b2, contactId: c2 })
  assert.deepEqual(await cbk.bot.delete(b2), { id: b2 })
  assert.equal(lastPath(), `/api/v1/bot/${b2}/delete`)
  await expectFetchError(cbk.bot.fetch(b2), 'NOT_FOUND')
  await expectFetchError(cbk.bot.update(b2, { name: 'x' }), 'NOT_FOUND')
  await expectFetchError(cbk.bot.delete(b2), 'NOT_FOUND')
  assert.deepEqual(new Set(ids((await cbk.bot.list()).items)), new Set([b1, b3]))
  let linked = await cbk.task.fetch(t1)
  assert.equal(linked.botId, null)
  assert.equal(linked.contactId, c2)
  assert.deepEqual(await cbk.contact.delete(c2), { id: c2 })
  assert.equal(lastPath(), `/api/v1/contact/${c2}/delete`)
  await expectFetchError(cbk.contact.fetch(c2), 'NOT_FOUND')
  await expectFetchError(cbk.contact.task.list(c2), 'NOT_FOUND')
  assert.deepEqual(new Set(ids((await cbk.contact.list()).items)), new Set([c1, c3]))
  linked = await cbk.task.fetch(t1)
  assert.equal(linked.contactId, null)
  await expectFetchError(cbk.task.create({ botId: b2 }), 'NOT_FOUND', /bot/i)
  await expectFetchError(cbk.task.update(t1, { contactId: c2 }), 'NOT_FOUND', /contact/i)

  return { bots: 3, contacts: 3 }
})
