import { configSchemaPath } from '../config/json-schema.js';
import type { WindowChoice } from './live.js';

/** Everything `rehearse init` decided, and what it could not. */
export interface InitPlan {
  projectDir: string;
  deployment?: string;
  deploymentFrom: 'live' | 'manifest' | 'none';
  workPool?: string;
  workPoolFrom: 'live' | 'manifest' | 'none';
  manifest?: string;
  manifestDir?: string;
  manifestDirFound: boolean;
  prefectCommand: string[];
  /** The deploy CLI's flags, when its --help answered. */
  deployFlags?: string[];
  deployArgv?: string[];
  /** render.deployCommand: how the project applies the manifest (its --manifest-dir and --flow). */
  deployCommand?: string[];
  deployDryRun?: boolean;
  concurrencyKey?: string;
  window: WindowChoice;
  runsVersion?: string;
  apiUrl?: string;
  /** PREFECT_API_URL or the sandbox. */
  apiFrom?: string;
  serverVersion?: string;
  undecided: string[];
}

const q = (value: string): string => JSON.stringify(value);
const list = (values: string[]): string => `[${values.map(q).join(', ')}]`;
/** `# ` lines of at most ~100 characters, continuation lines indented under a list item's text. */
function comment(text: string): string[] {
  const out: string[] = [];
  const indent = /^\s*(- )?/.exec(text)?.[0].replace('-', ' ') ?? '';
  let line = '';
  for (const word of text.split(' ')) {
    if (line && `${line} ${word}`.length > 96) {
      out.push(`# ${line}`);
      line = `${indent}${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(`# ${line}`.trimEnd());
  return out;
}

function renderLines(plan: InitPlan): string[] {
  if (!plan.deployCommand) {
    return [
      '# The deploy CLI was not found or did not answer --help: set render.deployCommand to the command',
      '# that applies the manifests (e.g. [uv, run, myproject, deploy, --flow, backfill]).',
    ];
  }
  const shown = `\`${plan.deployArgv?.join(' ')}\``;
  const how = plan.deployDryRun
    ? [`# ${shown} lists --dry-run: render runs it with that flag, which applies nothing.`]
    : comment(
        `${shown} has no dry run (its flags: ${plan.deployFlags?.join(' ') || 'none'}): every call registers ` +
          'deployments, so rehearse never runs it; it renders the manifests this command would apply (its --manifest-dir ' +
          'and --flow) itself. Never set render.command to it.',
      );
  return [...how, 'render:', `  deployCommand: ${list(plan.deployCommand)}`];
}

function windowLines(plan: InitPlan): string[] {
  const { window } = plan;
  const lines = comment(`The window (--since/--until) becomes flow parameters: ${window.why}.`);
  if (window.accepted.length) lines.push('# The flow accepts:', ...window.accepted.map((line) => `#   ${line}`));
  if (window.problem) {
    lines.push(
      '# rehearse could not map the window: fill in a template, e.g.',
      '# window:',
      '#   mode: template',
      '#   parameters: {start: "{since}", end: "{until}", days: [{day: "{date}"}]}',
    );
  } else {
    lines.push('window:', `  mode: ${window.mode}`);
    if (window.mode === 'runs')
      lines.push(`  version: ${q(plan.runsVersion ?? 'latest')}   # the version of every {run_date, version} entry`);
    if (window.mode === 'auto')
      lines.push('  # version: "latest"   # the version of every {run_date, version} entry, if auto picks a runs list');
  }
  return lines.map((line) => `  ${line}`);
}

/** The commented rehearse.config.yaml; every value written is one init found or chose. */
export function configText(plan: InitPlan, now: Date): string {
  const out: string[] = [
    // Editors with the YAML language server complete and check the file against the schema the package ships.
    `# yaml-language-server: $schema=${configSchemaPath()}`,
    `# rehearse.config.yaml, written by \`rehearse init\` on ${now.toISOString().slice(0, 10)}.`,
    '# Every key is optional; see "Configuration" in rehearse\'s README. Check the values below,',
    '# then run `rehearse doctor` and `rehearse backfill`.',
  ];
  if (plan.undecided.length) {
    out.push('#', '# NOT DECIDED: check these by hand:', ...plan.undecided.flatMap((item) => comment(`  - ${item}`)));
  }
  out.push('', `projectDir: ${q(plan.projectDir)}`);
  if (plan.deployment)
    out.push(
      `deployment: ${q(plan.deployment)}   # from the ${plan.deploymentFrom === 'live' ? 'live server' : 'manifest'}`,
    );
  if (plan.workPool)
    out.push(
      `workPool: ${q(plan.workPool)}   # from the ${plan.workPoolFrom === 'live' ? 'live deployment' : 'manifest'}`,
    );
  if (plan.manifest) {
    const key = plan.concurrencyKey ? `; concurrency key ${q(plan.concurrencyKey)}` : '';
    out.push(`manifest: ${q(plan.manifest)}   # the expected guardrails${key}`);
  }
  if (plan.manifestDir)
    out.push(
      `manifestDir: ${q(plan.manifestDir)}${plan.manifestDirFound ? '' : '   # no staging overlay found: the manifests themselves'}`,
    );
  out.push('', 'prefect:', `  command: ${list(plan.prefectCommand)}`);
  const version = plan.serverVersion ? ` (Prefect ${plan.serverVersion})` : '';
  if (plan.apiUrl && plan.apiFrom === 'sandbox')
    out.push(`  # init read the sandbox at ${plan.apiUrl}${version}: rehearse its deployment with --sandbox`);
  else if (plan.apiUrl)
    out.push(`  # apiUrl: ${q(plan.apiUrl)}   # init read it from PREFECT_API_URL${version}, which wins over this key`);
  else out.push('  # apiUrl: "https://prefect.staging.example/api"   # used when PREFECT_API_URL is not set');
  out.push('', ...renderLines(plan));
  out.push('', 'run:', '  since: "2024-01-01"', '  until: "2024-01-07"', ...windowLines(plan));
  out.push('  # drop: [name]   # flow parameters never to send, whatever set them');
  out.push('');
  return out.join('\n');
}
