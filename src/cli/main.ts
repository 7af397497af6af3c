/**
 * `ams`: the command line (the top layer: it imports only src/client and
 * src/protocol). Every command has `--help`; exit status 0 ok, 1 failure,
 * 2 usage; errors are one line on stderr with the broker's code and message.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { accountCreate, inspect, mint } from './account';
import { chat } from './chat';
import { configPath, DEFAULT_HOST } from './config';
import { describeError, EXIT } from './errors';
import { pipe } from './pipe';
import { say } from './say';
import { tail } from './tail';
import { VERSION } from './version';
import { webhookAdd, webhookList, webhookRemove } from './webhook';

function nonNegativeInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${what} must be a whole number ≥ 0.`);
    return Number(value);
  };
}

/** A command's own exit status (a tail that ended normally, a program's failure). */
const setStatus = (status: number): void => {
  process.exitCode = status;
};

const LINK = 'a magic link or observer link: {origin}/{namespace}/conversations/{alias}?t=…';

export function program(): Command {
  const host = () => new Option('--host <url>', `the broker (default: $AMS_HOST, else ${DEFAULT_HOST})`);
  const root = new Command('ams')
    .description('Sit in an AMS conversation from a terminal, or make any program a participant.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\nCredentials are kept in ${configPath()} (AMS_CONFIG moves it; AMS_CREDENTIAL wins over it).\nLink commands take the broker from the link.`);

  const account = root.command('account').description('accounts on a broker');
  account
    .command('create')
    .description('create an account (namespace) and save its credential')
    .argument('<namespace>', 'lowercase letters, digits and -')
    .addOption(host())
    .option('--print', 'print the credential instead of saving it')
    .option('--replace', 'replace an account already saved for this broker')
    .option('--signup-token <token>', 'for brokers that require one (default: $AMS_SIGNUP_TOKEN)')
    .action((ns: string, opts) => accountCreate(ns, opts));

  root
    .command('mint')
    .description('create a conversation; prints its magic link, then its observer link')
    .addOption(host())
    .option('--alias <alias>', 'its address in your namespace (default: generated)')
    .option('--instructions <text>', 'what the conversation is for, shown to everyone who joins')
    .option('--json', 'print the broker\'s whole answer as JSON')
    .action((opts) => mint(opts));

  root
    .command('tail')
    .description('follow the transcript: one line per utterance (no credential needed)')
    .argument('<link>', LINK)
    .option('--since <seq>', 'start after this seq (default: now)', nonNegativeInt('--since'))
    .option('--frames', 'every frame as it arrives instead of utterances')
    .option('--subscribe <names>', 'only these streams, comma-separated')
    .option('--json', 'one JSON object per line')
    .action(async (link: string, opts) => setStatus(await tail(link, opts)));

  root
    .command('say')
    .description('speak: TEXT as one utterance; without TEXT, each line of stdin')
    .argument('<link>', 'a magic link')
    .argument('[text...]', 'the words to say')
    .option('--stream', 'send stdin as tokens as they arrive (each line break ends an utterance)')
    .option('--as <name>', 'the stream to speak on (default: one the broker picks)')
    .action(async (link: string, text: string[], opts) => setStatus(await say(link, text, opts)));

  root
    .command('chat')
    .description('interactive: the live transcript above a prompt; /who lists participants, /quit leaves')
    .argument('<link>', 'a magic link')
    .option('--as <name>', 'the stream to speak on')
    .action(async (link: string, opts) => setStatus(await chat(link, opts)));

  root
    .command('pipe')
    .description('run a program as a participant: peer utterances to its stdin, its stdout spoken')
    .argument('<link>', 'a magic link')
    .argument('<command...>', 'the program and its arguments, after --')
    .option('--json', 'write each utterance to the program as a JSON object, not as a line of text')
    .option('--gap <ms>', 'end an utterance after this many quiet ms instead of at each line', nonNegativeInt('--gap'))
    .option('--as <name>', 'the stream to speak on')
    .action(async (link: string, command: string[], opts) => setStatus(await pipe(link, command, opts)));

  root
    .command('inspect')
    .description('what the conversation is: its streams, head, listeners')
    .argument('<link>', LINK)
    .option('--json', 'the broker\'s answer as JSON')
    .action((link: string, opts) => inspect(link, opts));

  const webhook = root.command('webhook').description('participants the broker calls: one signed POST per utterance, the answer spoken back');
  webhook
    .command('add')
    .description('register a webhook (prints its secret, shown only once)')
    .argument('<link>', 'a magic link')
    .argument('<url>', 'https://… (http://localhost only on a development broker)')
    .option('--as <name>', 'the stream its replies are spoken on')
    .addOption(new Option('--notify <which>', 'which utterances it is called for').choices(['all', 'mentions']))
    .option('--events <list>', 'comma-separated: utterance, joined, left (default: utterance)')
    .option('--json', 'the broker\'s answer as JSON')
    .action((link: string, url: string, opts) => webhookAdd(link, url, opts));
  webhook
    .command('list')
    .description('the webhooks you registered here (the owner sees all), with their state')
    .argument('<link>', 'a magic link')
    .option('--json', 'the broker\'s answer as JSON')
    .action((link: string, opts) => webhookList(link, opts));
  webhook
    .command('rm')
    .description('remove a webhook; its stream leaves')
    .argument('<link>', 'a magic link')
    .argument('<id>', 'wh_…')
    .action((link: string, id: string) => webhookRemove(link, id));

  return root;
}

/** Runs the command line; resolves with the exit status (never throws). */
export async function run(argv: string[]): Promise<number> {
  const root = program();
  const usage = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith('error: ') ? `ams: ${text.slice(7)}` : text) });
    cmd.commands.forEach(usage);
  };
  usage(root);
  try {
    await root.parseAsync(argv);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      return ok ? EXIT.ok : EXIT.usage;
    }
    const { message, exitCode } = describeError(err);
    process.stderr.write(`ams: ${message}\n`);
    return exitCode;
  }
}

const status = await run(process.argv);
// Sockets and timers may still be open: leave once stdout has been written out.
process.stdout.write('', () => process.exit(status));
