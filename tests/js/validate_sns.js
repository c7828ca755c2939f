// Verifies SNS messages as Node.js receivers do, with npm's sns-validator:
// a JSON array of messages on stdin; one line per message on stdout,
// `valid` or `invalid` (the reason on stderr). The certificate host must be
// 127.0.0.1 (any port); NODE_EXTRA_CA_CERTS names the test CA.
const MessageValidator = require('sns-validator');

const validator = new MessageValidator(/^127\.0\.0\.1:\d+$/);
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  for (const message of JSON.parse(input)) {
    const verdict = await new Promise((resolve) => {
      validator.validate(message, (err) => {
        if (err) {
          console.error(`${message.Type} ${message.MessageId}: ${err.message}`);
        }
        resolve(err ? 'invalid' : 'valid');
      });
    });
    console.log(verdict);
  }
});
