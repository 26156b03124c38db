// Fault toggles wired to the demo server's fault injection (server/README.md, "Fault
// injection"). Each toggle is a set of global rules (`POST /admin/faults`) aimed at the current
// order's paths, or a change of the runtime settings (`PUT /admin/settings`). Rules that apply
// a limited number of times switch their toggle off once the server has used them up.

import { admin } from './api.js';

const payments = (orderNo) => `/api/orders/${encodeURIComponent(orderNo)}/payments`;
// A prefix of both `/payments` (create) and `/payment` (status).
const anyPayment = (orderNo) => `/api/orders/${encodeURIComponent(orderNo)}/payment`;

/** The toggles, in the order they are shown. */
export const FAULTS = [
  {
    id: 'slow-create',
    label: 'Slow create',
    help: 'Every create-payment reply takes 3 s. Click as often as you like meanwhile.',
    rules: (no) => [{ spec: 'latency=3000', pathPrefix: payments(no), method: 'POST' }],
  },
  {
    id: 'lost-reply',
    label: 'Lost reply after commit',
    help: 'The server creates the payment and commits it, then closes the connection without '
      + 'a reply, for the next 4 create requests. The browser itself silently re-sends a POST up '
      + 'to twice when a kept-alive connection closes; then the guard re-sends the same '
      + 'idempotency key. Every one of them gets the same payment back.',
    rules: (no) => [{ spec: 'drop-reply', pathPrefix: payments(no), method: 'POST', times: 4 }],
  },
  {
    id: 'errors',
    label: '500 errors',
    help: 'The next 3 create or status requests fail with HTTP 500. The guard retries with the '
      + 'same key.',
    rules: (no) => [{ spec: 'status=500', pathPrefix: anyPayment(no), times: 3 }],
  },
  {
    id: 'server-down',
    label: 'Server down (503)',
    help: 'Every create and status request fails. After a few tries the outcome is "pending", '
      + 'never "pay again".',
    rules: (no) => [{ spec: 'status=503', pathPrefix: anyPayment(no) }],
  },
  {
    id: 'late-notify',
    label: 'Late notify',
    help: "The provider's payment notification reaches the server 15 s after you confirm. The "
      + 'server asks the provider itself when the guard polls.',
    rules: () => [{ spec: 'notify-delay=15000', pathPrefix: '/sim/wallet/', method: 'POST' }],
    simulatedOnly: true,
  },
  {
    id: 'lost-notify',
    label: 'Lost notify',
    help: "The provider's payment notification never arrives. The server's active query "
      + 'still finds the payment.',
    rules: () => [{ spec: 'notify=lost', pathPrefix: '/sim/wallet/', method: 'POST' }],
    simulatedOnly: true,
  },
  {
    id: 'short-expiry',
    label: 'Short prepay expiry',
    help: 'New prepays expire after 30 s. Cancel in the wallet, wait, pay again: the old '
      + 'payment is closed at the provider before a new one is made.',
    settings: { prepayTtlMs: 30_000, reuseMarginMs: 5_000 },
    // WeChat Pay refuses a `time_expire` under a minute away.
    simulatedOnly: true,
  },
];

/** The server's settings when no toggle changed them. */
const NORMAL = { prepayTtlMs: 7_200_000, reuseMarginMs: 60_000 };

const sameRule = (a, b) => a.spec === b.spec && a.pathPrefix === b.pathPrefix;

/**
 * Renders the toggles into `fieldset` and keeps the server in step with them.
 * @param {HTMLFieldSetElement} fieldset
 * @param {() => string | null} currentOrder the order the rules aim at
 * @param {(text: string, kind?: string) => void} note writes to the timeline
 */
export function createFaults(fieldset, currentOrder, note) {
  const boxes = new Map();
  const rows = new Map();
  let normal = { ...NORMAL };

  for (const fault of FAULTS) {
    const row = document.createElement('div');
    row.className = 'fault';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = `fault-${fault.id}`;
    box.autocomplete = 'off';
    box.setAttribute('aria-describedby', `fault-${fault.id}-help`);
    const label = document.createElement('label');
    label.htmlFor = box.id;
    label.textContent = fault.label;
    const help = document.createElement('p');
    help.id = `fault-${fault.id}-help`;
    help.className = 'hint';
    help.textContent = fault.help;
    row.append(box, label, help);
    fieldset.append(row);
    rows.set(fault.id, row);
    boxes.set(fault.id, box);
    box.addEventListener('change', () => toggled(fault, box.checked));
  }

  async function toggled(fault, on) {
    try {
      if (fault.settings) {
        await putSettings(on ? fault.settings : normal);
      } else {
        await apply();
      }
      note(`Fault ${on ? 'on' : 'off'}: ${fault.label}`, 'fault');
    } catch (error) {
      note(`Could not switch "${fault.label}": ${error.message}`, 'error');
      boxes.get(fault.id).checked = !on;
    }
  }

  async function putSettings(change) {
    const current = await admin.settings();
    await admin.putSettings({ ...current, ...change });
  }

  /** Replaces the server's rules with the checked toggles' rules for the current order. */
  async function apply() {
    left.clear();
    await admin.clearFaults();
    const orderNo = currentOrder();
    if (!orderNo) return;
    for (const fault of FAULTS) {
      if (fault.rules && boxes.get(fault.id).checked) {
        for (const rule of fault.rules(orderNo)) await admin.addFault(rule);
      }
    }
  }

  /** On page load: no rules left over, and the expiry toggle shows the server's settings. */
  async function start() {
    await admin.clearFaults();
    const settings = await admin.settings();
    const short = FAULTS.find((f) => f.settings);
    if (settings.prepayTtlMs <= short.settings.prepayTtlMs) {
      boxes.get(short.id).checked = true;
    } else {
      normal = { prepayTtlMs: settings.prepayTtlMs, reuseMarginMs: settings.reuseMarginMs };
    }
  }

  /** How many uses are left of each limited toggle's rules, as last seen. */
  const left = new Map();

  /** Reports the uses of limited rules, and switches their toggles off once used up. */
  async function sync() {
    const orderNo = currentOrder();
    if (!orderNo) return;
    const { rules } = await admin.faults();
    for (const fault of FAULTS) {
      const box = boxes.get(fault.id);
      if (!fault.rules || !box.checked) continue;
      const wanted = fault.rules(orderNo).filter((rule) => rule.times);
      if (wanted.length === 0) continue;
      const total = wanted[0].times;
      const installed = rules.find((r) => sameRule(r, wanted[0]));
      const remaining = installed ? installed.times : 0;
      const before = left.has(fault.id) ? left.get(fault.id) : total;
      if (remaining < before) {
        note(`${fault.label}: ${total - remaining} of ${total} used so far`, 'fault');
      }
      left.set(fault.id, remaining);
      if (!installed) {
        box.checked = false;
        left.delete(fault.id);
        note(`Fault used up: ${fault.label}`, 'fault');
      }
    }
  }

  /** With WeChat Pay (the simulator, another process) the toggles that act on the in-process
   * provider's notifies and prepay expiry cannot reach it: they are not offered. */
  function setProvider(info) {
    if (info?.provider !== 'wechatpay') return;
    for (const fault of FAULTS.filter((f) => f.simulatedOnly)) {
      rows.get(fault.id).hidden = true;
      if (boxes.get(fault.id).checked) {
        boxes.get(fault.id).checked = false;
        toggled(fault, false);
      }
    }
    const hint = document.createElement('p');
    hint.className = 'hint';
    hint.textContent = 'The notify and expiry toggles act on the in-process provider: `cargo xtask demo --simulated`.';
    fieldset.append(hint);
  }

  return { apply, start, sync, setProvider };
}
