/**
 * What the suite's fixture tools, resources and prompts return, shared by the 2025-era server
 * (`server.ts`, SDK v1) and the 2026-07-28 one (`stateless.ts`, SDK v2): each registers them in
 * its own SDK's dialect, and both answer with the same content.
 */

/** A 1x1 red PNG. */
export const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
/** A WAV header with no samples: the smallest valid audio/wav. */
export const WAV = Buffer.concat([
  Buffer.from('RIFF'),
  Buffer.from([36, 0, 0, 0]),
  Buffer.from('WAVEfmt '),
  Buffer.from([16, 0, 0, 0, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0]),
  Buffer.from('data'),
  Buffer.from([0, 0, 0, 0]),
]).toString('base64');

export const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

const embedded = {
  type: 'resource' as const,
  resource: {
    uri: 'test://embedded-resource',
    mimeType: 'text/plain',
    text: 'This is an embedded resource content.',
  },
};

/** Results of the tools both eras serve alike. */
const TOOL_RESULTS = {
  simpleText: () => text('This is a simple text response for testing.'),
  image: () => ({ content: [{ type: 'image' as const, data: PNG, mimeType: 'image/png' }] }),
  audio: () => ({ content: [{ type: 'audio' as const, data: WAV, mimeType: 'audio/wav' }] }),
  embeddedResource: () => ({ content: [embedded] }),
  multipleContentTypes: () => ({
    content: [
      { type: 'text' as const, text: 'Multiple content types test:' },
      { type: 'image' as const, data: PNG, mimeType: 'image/png' },
      {
        type: 'resource' as const,
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: JSON.stringify({ test: 'data', value: 123 }),
        },
      },
    ],
  }),
};

/** The tools without input that both eras register alike: name, description, result. */
export const CONTENT_TOOLS = [
  ['test_simple_text', 'Returns simple text', TOOL_RESULTS.simpleText],
  ['test_image_content', 'Returns an image', TOOL_RESULTS.image],
  ['test_audio_content', 'Returns audio', TOOL_RESULTS.audio],
  ['test_embedded_resource', 'Returns an embedded resource', TOOL_RESULTS.embeddedResource],
  ['test_multiple_content_types', 'Returns text, an image and a resource', TOOL_RESULTS.multipleContentTypes],
] as const;

/** Contents of the resources both eras serve, by the URI asked for. */
export const RESOURCE_CONTENTS = {
  staticText: (uri: URL) => ({
    contents: [
      { uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
    ],
  }),
  staticBinary: (uri: URL) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG }] }),
  template: (uri: URL, id: string | string[]) => ({
    contents: [
      {
        uri: uri.href,
        mimeType: 'application/json',
        text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
      },
    ],
  }),
};

const userText = (value: string) => ({
  role: 'user' as const,
  content: { type: 'text' as const, text: value },
});

/** Messages of the prompts both eras serve. */
export const PROMPT_RESULTS = {
  simple: () => ({ messages: [userText('This is a simple prompt for testing.')] }),
  withArguments: (arg1: string, arg2: string) => ({
    messages: [userText(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`)],
  }),
  withEmbeddedResource: (resourceUri: string) => ({
    messages: [
      {
        role: 'user' as const,
        content: {
          type: 'resource' as const,
          resource: {
            uri: resourceUri,
            mimeType: 'text/plain',
            text: 'Embedded resource content for testing.',
          },
        },
      },
      userText('Please process the embedded resource above.'),
    ],
  }),
  withImage: () => ({
    messages: [
      { role: 'user' as const, content: { type: 'image' as const, data: PNG, mimeType: 'image/png' } },
      userText('Please analyze the image above.'),
    ],
  }),
};

/** `test_prompt_with_arguments`' completion of `arg1`. */
export const completeArg1 = (value: string) => ['paris', 'park', 'party'].filter((v) => v.startsWith(value));
