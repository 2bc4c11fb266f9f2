// edgelm serve driven by the official OpenAI client (the npm package, pinned in package.json):
// what an application written for OpenAI's API relies on. Usage:
//   node compat.mjs BASE_URL MODEL [API_KEY]
// Prints one "ok:"/"FAIL:" line per check and "N passed, N failed"; exits 1 on a failure.
import OpenAI from 'openai';

const [base, model, key] = process.argv.slice(2);
if (!base || !model) {
  console.error('usage: node compat.mjs BASE_URL MODEL [API_KEY]');
  process.exit(2);
}
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key || 'none', maxRetries: 0, timeout: 60000 });
let passed = 0;
let failed = 0;

function check(ok, what, detail) {
  if (ok) {
    passed++;
    console.log(`ok: ${what}`);
  } else {
    failed++;
    console.log(`FAIL: ${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}

async function step(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, what, `${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  }
}

const messages = [{ role: 'user', content: 'Once upon a time' }];
let chatText = '';

await step('models.list', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  check(ids.includes(model), 'models.list names the served model', ids);
  check(list.data.every((m) => m.object === 'model' && typeof m.created === 'number'),
    'each model has object "model" and a created time', list.data);
});

await step('chat', async () => {
  const r = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  chatText = r.choices[0].message.content;
  check(r.object === 'chat.completion', 'chat: object', r.object);
  check(typeof chatText === 'string' && chatText.length > 0, 'chat: text', chatText);
  check(r.choices[0].message.role === 'assistant', 'chat: role', r.choices[0].message.role);
  check(['stop', 'length'].includes(r.choices[0].finish_reason), 'chat: finish_reason', r.choices[0].finish_reason);
  const u = r.usage;
  check(u && u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= 12
    && u.total_tokens === u.prompt_tokens + u.completion_tokens, 'chat: usage adds up', u);
});

await step('chat stream', async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  let chunks = 0;
  for await (const c of stream) {
    chunks++;
    check(c.object === 'chat.completion.chunk', `chat stream: chunk ${chunks} object`, c.object);
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta && ch.delta.content) text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  check(text === chatText, 'chat stream: same text as without streaming', { text, chatText });
  check(['stop', 'length'].includes(finish), 'chat stream: a finish_reason', finish);
  check(usage && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
    'chat stream: include_usage gives the usage chunk', usage);
});

await step('completions', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  check(r.object === 'text_completion', 'completions: object', r.object);
  check(typeof r.choices[0].text === 'string' && r.choices[0].text.length > 0, 'completions: text', r.choices[0].text);
  check(r.usage && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8, 'completions: usage', r.usage);
});

await step('errors', async () => {
  try {
    await client.chat.completions.create({ model, messages, temperature: 5 });
    check(false, 'an out-of-range temperature is refused');
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400, 'out-of-range temperature: APIError 400', e.status);
    check(e.param === 'temperature' || (e.error && e.error.param === 'temperature'), 'the error names the field', e.error);
  }
  try {
    await client.chat.completions.create({ model: 'no-such-model', messages });
    check(false, 'an unknown model is refused');
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError, 'unknown model: NotFoundError (404)', e.status);
  }
  if (key) {
    const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 });
    try {
      await wrong.models.list();
      check(false, 'a wrong key is refused');
    } catch (e) {
      check(e instanceof OpenAI.AuthenticationError, 'wrong key: AuthenticationError (401)', e.status);
    }
  }
});

await step('abort mid-stream', async () => {
  // the client aborts after two chunks (whether the SDK then throws depends on how much of the
  // stream had arrived); what the server owes is a freed slot, so the next request is served
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model, messages, max_tokens: 200, temperature: 0, stream: true }, { signal: ac.signal });
  let got = 0;
  try {
    for await (const c of stream) {
      if (c.choices.length && c.choices[0].delta.content) got++;
      if (got >= 2) ac.abort();
    }
  } catch (e) {
    check(e instanceof OpenAI.APIUserAbortError || (e && e.name === 'AbortError'), 'abort: APIUserAbortError', e && e.name);
  }
  const r = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 0 });
  check(r.choices[0].message.content.length > 0, 'a request after the abort is served');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
