// An outside agent in node, written against the npm `humanlayer` SDK as HumanLayer's docs show it:
// it receives the completion webhooks on a small HTTP server that checks their Standard Webhooks
// signature (WEBHOOK_SECRET), and asks through createFunctionCall and createHumanContact.
//
// Driven by tests/scenario/test_humanlayer_npm_sdk_runs_unchanged.py over stdin/stdout, one JSON
// object a line: it prints {"webhook_url"} first, then reads {"api_base", "api_key", "channel"} (what
// a user puts in HUMANLAYER_API_BASE and HUMANLAYER_API_KEY), makes both requests, prints each one,
// and prints every verified webhook; it exits once both completions came.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import { createInterface } from 'node:readline'
import { humanlayer } from 'humanlayer'

const TOLERANCE_SECONDS = 300
const MAX_BODY = 1_000_000
const say = (object) => process.stdout.write(JSON.stringify(object) + '\n')

function verify(secret, headers, body) {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (!id || !timestamp || !signatures) return false
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  return signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',')
    const given = Buffer.from(value || '', 'base64')
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
  })
}

const completed = new Set()
let finish
const done = new Promise((resolve) => (finish = resolve))

const server = createServer((request, response) => {
  const chunks = []
  let size = 0
  request.on('data', (chunk) => {
    size += chunk.length
    if (size <= MAX_BODY) chunks.push(chunk)
  })
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8')
    if (size > MAX_BODY || !verify(process.env.WEBHOOK_SECRET, request.headers, body)) {
      say({ refused: request.headers['webhook-id'] || null })
      response.writeHead(401).end()
      return
    }
    const payload = JSON.parse(body)
    say({ webhook: payload, id: request.headers['webhook-id'] })
    response.writeHead(200).end()
    completed.add(payload.type)
    if (completed.has('function_call.completed') && completed.has('human_contact.completed')) finish()
  })
})

server.listen(0, '127.0.0.1', async () => {
  say({ webhook_url: `http://127.0.0.1:${server.address().port}/webhook` })
  const lines = createInterface({ input: process.stdin })
  const config = JSON.parse((await lines[Symbol.asyncIterator]().next()).value)
  process.env.HUMANLAYER_API_BASE = config.api_base
  process.env.HUMANLAYER_API_KEY = config.api_key
  try {
    const hl = humanlayer({ runId: 'node-agent' })
    const call = await hl.createFunctionCall({
      spec: { fn: 'deploy', kwargs: { version: '2.3' }, channel: config.channel, state: { step: 1 } },
    })
    say({ function_call: call })
    const contact = await hl.createHumanContact({
      spec: { msg: 'Which region first?', channel: config.channel, state: { step: 2 } },
    })
    say({ human_contact: contact })
    await done
    say({ read_back: await hl.getFunctionCall(call.call_id), contact: await hl.getHumanContact(contact.call_id) })
    say({ finished: true })
  } catch (error) {
    say({ error: String(error) })
    process.exitCode = 1
  }
  server.close()
  lines.close()
  process.stdin.destroy()
})
