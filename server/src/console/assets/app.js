// blockseal console: renders what the engine's operations answer and sends what the user asks
// for as those same operations (POST /console/call). No EC2 or KMS rule lives here: the copy
// preview comes from the engine (POST /console/preview-copy-image), errors are the engine's.
// The DOM is built with createElement/textContent only, never from HTML strings.

const S = {
  token: "",
  region: "us-east-1",
  principal: "admin",
  page: "amis",
  aliases: [],
  keys: [],
  tracked: new Map(), // id -> {kind, first: {pct, t}, last: {pct, t}, size, done, text}
};

// ---------- calls ----------

class ApiError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.msg = message;
  }
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Blockseal-Console-Token": S.token },
    body: JSON.stringify(body),
  });
  const v = await r.json();
  if (!r.ok || v.Error) throw new ApiError(v.Error?.Code ?? String(r.status), v.Error?.Message ?? "");
  return v;
}

function call(op, input = {}, region = S.region, principal = S.principal) {
  return post("/console/call", { Operation: op, Input: input, Region: region, Principal: principal });
}

function previewCopy(input, region) {
  return post("/console/preview-copy-image", { Input: input, Region: region, Principal: S.principal });
}

function previewCopySnapshot(input, region) {
  return post("/console/preview-copy-snapshot", { Input: input, Region: region, Principal: S.principal });
}

// The instance types RunInstances accepts, as the engine lists them (asked once).
let typesOnce = null;
function instanceTypes() {
  typesOnce ??= post("/console/instance-types", { Region: S.region, Principal: S.principal })
    .catch((e) => { typesOnce = null; throw e; });
  return typesOnce;
}

// ---------- DOM ----------

function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function table(cols, rows, id) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "stack", id },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.length ? rows.map((r) =>
        h("tr", { "data-id": r.id }, r.cells.map((c, i) =>
          h("td", { "data-label": cols[i], class: cols[i] === "Actions" ? "actions" : undefined }, c))))
        : h("tr", {}, h("td", { colspan: cols.length, class: "muted" }, "None.")))));
}

function state(s) {
  return h("span", { class: `state state-${s}` }, s);
}

function flash(text, ok = false) {
  const f = document.getElementById("flash");
  f.className = ok ? "ok" : "";
  f.textContent = text;
}

function fail(e) {
  flash(e instanceof ApiError ? `${e.code}: ${e.msg}` : String(e));
}

// ---------- keys ----------

function keyIdOf(arn) {
  return arn ? arn.slice(arn.lastIndexOf("/") + 1) : "";
}

function aliasesOf(arn) {
  const id = keyIdOf(arn);
  return S.aliases.filter((a) => a.TargetKeyId === id).map((a) => a.AliasName);
}

// The short name a person gives a key: its first alias without `alias/`, else its id.
function keyName(arn) {
  if (!arn) return "unencrypted";
  const a = aliasesOf(arn);
  return a.length ? a[0].replace(/^alias\//, "") : keyIdOf(arn);
}

function keyCell(arn) {
  if (!arn) return h("span", { class: "muted" }, "unencrypted");
  const a = aliasesOf(arn);
  return h("span", {}, a.length ? h("strong", {}, a.join(", ")) : null, a.length ? h("br") : null,
    h("span", { class: "arn" }, arn));
}

async function loadKeys() {
  const [aliases, keys] = await Promise.all([call("ListAliases"), call("ListKeys")]);
  S.aliases = aliases.Aliases ?? [];
  const metas = await Promise.all((keys.Keys ?? []).map((k) => call("DescribeKey", { KeyId: k.KeyId })));
  S.keys = metas.map((m) => m.KeyMetadata);
}

// A key picker: aliases (aws/ebs included), then key ARNs; "" = none chosen.
function keyPicker(id, label, none = "(none)") {
  const opts = [h("option", { value: "" }, none)];
  for (const a of S.aliases) opts.push(h("option", { value: a.AliasName }, a.AliasName));
  for (const k of S.keys) {
    if (k.KeyManager === "CUSTOMER") opts.push(h("option", { value: k.Arn }, k.Arn));
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), h("select", { id }, opts));
}

// ---------- dialogs ----------

// Opens the dialog with `body`; `ok` runs on submit and closes it unless it throws (the error
// stays in the dialog). Resolves when the dialog closes.
function dialog(title, body, okLabel, ok, danger = false) {
  const d = document.getElementById("dialog");
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-body").replaceChildren(...[body].flat(Infinity));
  document.getElementById("dialog-error").textContent = "";
  const okb = document.getElementById("dialog-ok");
  okb.textContent = okLabel;
  okb.className = danger ? "danger" : "primary";
  okb.disabled = false;
  const form = document.getElementById("dialog-form");
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    okb.disabled = true;
    try {
      await ok();
      d.close();
      await render();
    } catch (e) {
      document.getElementById("dialog-error").textContent =
        e instanceof ApiError ? `${e.code}: ${e.msg}` : String(e);
    } finally {
      okb.disabled = false;
    }
  };
  document.getElementById("dialog-cancel").onclick = () => d.close();
  d.oncancel = null;
  d.showModal();
  const first = d.querySelector("#dialog-body input, #dialog-body select");
  (first ?? okb).focus();
}

function confirmThen(title, text, okLabel, action) {
  dialog(title, h("p", {}, text), okLabel, action, true);
}

function field(id, label, input, hint) {
  input.id = id;
  return h("div", { class: input.type === "checkbox" ? "field inline" : "field" },
    input.type === "checkbox" ? input : null, h("label", { for: id }, label),
    input.type === "checkbox" ? null : input, hint ? h("span", { class: "hint" }, hint) : null);
}

const val = (id) => document.getElementById(id).value.trim();
const checked = (id) => document.getElementById(id).checked;

// ---------- pages ----------

const pages = { amis, instances, volumes, snapshots, keys: keysPage, encryption };

async function render() {
  const main = document.getElementById("main");
  for (const a of document.querySelectorAll(".top nav a")) {
    if (a.dataset.page === S.page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    await loadKeys();
    const content = await pages[S.page]();
    main.replaceChildren(...content);
    main.dataset.page = S.page;
    main.dataset.ready = String(Date.now());
  } catch (e) {
    fail(e);
  }
}

async function snapshotsById() {
  const out = await call("DescribeSnapshots", { OwnerIds: ["self"] });
  return new Map((out.Snapshots ?? []).map((s) => [s.SnapshotId, s]));
}

function deviceLabel(image, device) {
  return device === image.RootDeviceName ? "root" : device.replace(/^\/dev\//, "");
}

// The source snapshot a copy was made from, as its description says.
function copiedFrom(snap) {
  const m = /SourceSnapshot (snap-[0-9a-f]+)/.exec(snap?.Description ?? "");
  return m ? m[1] : null;
}

function whatHappened(src, dst) {
  if (!dst.Encrypted) return "unencrypted";
  if (src && src.Encrypted && src.KmsKeyId === dst.KmsKeyId) {
    return src.DataEncryptionKeyId === dst.DataEncryptionKeyId ? "kept" : "re-encrypt";
  }
  return src && src.Encrypted ? "re-encrypt" : "encrypt";
}

// AMI -> snapshots -> keys; for a copy, source snapshot -> snapshot with what happened.
function diagram(image, snaps) {
  const rows = image.BlockDeviceMappings.filter((m) => m.Ebs?.SnapshotId);
  const copy = rows.some((m) => copiedFrom(snaps.get(m.Ebs.SnapshotId)));
  // A copy: source snapshots -> the image's snapshots -> keys, the image above the sources.
  const rowH = 56, top = 12, first = copy ? top + 60 : top;
  const height = first + Math.max(1, rows.length) * rowH + top;
  const xs = copy ? { ami: 8, src: 8, snap: 280, key: 530 } : { ami: 8, snap: 230, key: 480 };
  const width = xs.key + 230;
  const g = [];
  const amiY = copy ? top : top + (rows.length * rowH) / 2 - 22;
  g.push(svg("rect", { class: "box", x: xs.ami, y: amiY, width: copy ? 200 : 160, height: 44, rx: 6 }));
  g.push(svg("text", { x: xs.ami + 8, y: amiY + 18 }, image.Name.slice(0, 22)));
  g.push(svg("text", { x: xs.ami + 8, y: amiY + 35 }, image.ImageId));
  if (copy) {
    g.push(svg("text", { x: xs.src, y: first - 6 }, "source snapshot"));
    g.push(svg("text", { x: xs.snap, y: first - 6 }, "snapshot"));
    g.push(svg("text", { x: xs.key, y: first - 6 }, "key"));
  }
  rows.forEach((m, i) => {
    const y = first + i * rowH;
    const s = snaps.get(m.Ebs.SnapshotId);
    const arn = s?.KmsKeyId;
    const label = `${deviceLabel(image, m.DeviceName)} · ${m.Ebs.VolumeSize} GiB`;
    g.push(svg("path", {
      d: copy ? `M${xs.ami + 200} ${amiY + 22} H${xs.snap - 20} V${y + 22} H${xs.snap}`
        : `M${xs.ami + 160} ${amiY + 22} L${xs.snap} ${y + 22}`,
    }));
    g.push(svg("rect", { class: "box", x: xs.snap, y, width: 200, height: 44, rx: 6 }));
    g.push(svg("text", { x: xs.snap + 8, y: y + 18 }, label));
    g.push(svg("text", { x: xs.snap + 8, y: y + 35 }, m.Ebs.SnapshotId));
    g.push(svg("line", { x1: xs.snap + 200, y1: y + 22, x2: xs.key, y2: y + 22 }));
    g.push(svg("rect", { class: arn ? "key" : "plain", x: xs.key, y, width: 220, height: 44, rx: 6 }));
    g.push(svg("text", { x: xs.key + 8, y: y + 18 }, arn ? `key ${keyName(arn)}` : "unencrypted"));
    if (arn) g.push(svg("text", { x: xs.key + 8, y: y + 35 }, keyIdOf(arn).slice(0, 26) + "…"));
    const from = copiedFrom(s);
    if (copy && from) {
      const src = snaps.get(from);
      g.push(svg("rect", { class: src?.KmsKeyId ? "key" : "plain", x: xs.src, y, width: 180, height: 44, rx: 6 }));
      g.push(svg("text", { x: xs.src + 8, y: y + 18 }, from));
      g.push(svg("text", { x: xs.src + 8, y: y + 35 }, src ? keyName(src.KmsKeyId) : "(gone)"));
      g.push(svg("line", { x1: xs.src + 180, y1: y + 22, x2: xs.snap, y2: y + 22 }));
      g.push(svg("text", { x: xs.src + 186, y: y + 16 }, s ? whatHappened(src, s) : ""));
    }
  });
  const desc = rows.map((m) => {
    const s = snaps.get(m.Ebs.SnapshotId);
    return `${deviceLabel(image, m.DeviceName)}: ${m.Ebs.SnapshotId} under ${keyName(s?.KmsKeyId)}`;
  }).join("; ");
  return svg("svg", {
    class: "diagram", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `Image ${image.ImageId}: ${desc}`,
  }, g);
}

async function amis() {
  const [imgs, snaps] = await Promise.all([call("DescribeImages", { Owners: ["self"] }), snapshotsById()]);
  const images = imgs.Images ?? [];
  const out = [h("h1", {}, "AMIs"),
    h("div", { class: "toolbar" }, h("button", { class: "primary", id: "register-open", onclick: () => registerDialog() }, "Register image"))];
  if (!images.length) {
    out.push(h("p", { class: "muted" }, "No images in this region. To make the first one, upload a raw disk image on the ",
      h("a", { href: "#snapshots" }, "Snapshots"), " page, then register an image from its snapshot."));
  }
  for (const img of images) {
    const rows = img.BlockDeviceMappings.map((m) => {
      const s = snaps.get(m.Ebs?.SnapshotId);
      return {
        id: m.DeviceName,
        cells: [m.DeviceName, m.Ebs?.SnapshotId ?? "—", `${m.Ebs?.VolumeSize ?? "?"} GiB`,
          String(s ? s.Encrypted : m.Ebs?.Encrypted), keyCell(s?.KmsKeyId),
          h("span", { class: "arn" }, s?.DataEncryptionKeyId ?? "—"), s ? state(s.State) : "—"],
      };
    });
    const reason = img.StateReason ? h("p", { class: "state-failed" }, `${img.StateReason.Code}: ${img.StateReason.Message}`) : null;
    out.push(h("section", { class: "card", "data-image": img.ImageId, "aria-label": `Image ${img.Name}` },
      h("header", {},
        h("h2", {}, img.Name), h("span", { class: "arn" }, img.ImageId), state(img.State),
        img.SourceImageId ? h("span", { class: "muted" }, `copied from ${img.SourceImageId}`) : null,
        h("span", { class: "actions" },
          h("button", { onclick: () => copyDialog(img, snaps), disabled: img.State !== "available" }, "Copy"),
          h("button", { onclick: () => launchDialog(img), disabled: img.State !== "available" }, "Launch"),
          h("button", { class: "danger", onclick: () => confirmThen("Deregister AMI",
            `Deregister ${img.ImageId} (${img.Name})? Its snapshots stay.`, "Deregister",
            () => call("DeregisterImage", { ImageId: img.ImageId })) }, "Deregister"))),
      reason,
      table(["Device", "Snapshot", "Size", "Encrypted", "Key", "DataEncryptionKeyId", "State"], rows),
      diagram(img, snaps)));
  }
  return out;
}

async function regionNames() {
  const r = await call("DescribeRegions", {});
  return (r.Regions ?? []).map((x) => x.RegionName);
}

// One line of a copy preview: "k1 → k2, re-encrypt", and the error the copy would meet.
function outcomeItem(o, prefix) {
  const from = o.SourceKmsKeyId ? keyName(o.SourceKmsKeyId) : "unencrypted";
  const to = o.Action === "unencrypted" ? "unencrypted"
    : o.KmsKeyId ? keyName(o.KmsKeyId)
    : o.KeyFrom === "default" ? "aws/ebs (default)" : (o.RequestedKey ?? "?");
  return h("li", { class: `outcome-${o.Action}`, "data-snapshot": o.SnapshotId },
    `${prefix}${from} → ${to}, ${o.Action}`,
    o.KeyProblem ? h("span", { class: "err" }, ` — the copy would fail: ${o.KeyProblem}`) : null);
}

// Runs `ask` (a preview call) whenever one of `ids` changes and shows its lines in `list`; only
// the answer to the latest change is shown.
function livePreview(list, ids, ask) {
  let seq = 0;
  const update = async () => {
    const mine = ++seq;
    let items;
    try {
      items = await ask();
    } catch (e) {
      items = [h("li", { class: "err" }, e instanceof ApiError ? `${e.code}: ${e.msg}` : String(e))];
    }
    if (mine === seq) {
      list.replaceChildren(...items);
      list.dataset.seq = String(mine);
    }
  };
  for (const id of ids) {
    document.getElementById(id).addEventListener("input", update);
    document.getElementById(id).addEventListener("change", update);
  }
  update();
}

async function copyDialog(img) {
  const regions = await regionNames();
  const preview = h("ul", { class: "preview", id: "copy-preview", "aria-live": "polite" });
  const body = [
    field("copy-name", "Name", h("input", { value: `${img.Name}-copy`, required: true })),
    field("copy-region", "Destination region",
      h("select", {}, regions.map((r) => h("option", { value: r, selected: r === S.region }, r)))),
    field("copy-description", "Description", h("input", {})),
    field("copy-encrypted", "Encrypt EBS snapshots", h("input", { type: "checkbox" })),
    keyPicker("copy-key", "KMS key", "(default key of the destination region)"),
    h("h3", {}, "What the copy will do"),
    preview,
  ];
  const input = () => {
    const i = { SourceImageId: img.ImageId, SourceRegion: S.region, Name: val("copy-name") };
    if (val("copy-description")) i.Description = val("copy-description");
    if (checked("copy-encrypted")) i.Encrypted = true;
    if (val("copy-key")) i.KmsKeyId = val("copy-key");
    return i;
  };
  dialog(`Copy ${img.ImageId}`, body, "Copy AMI", async () => {
    const region = val("copy-region");
    const out = await call("CopyImage", input(), region);
    track(out.ImageId, "image", region);
    flash(`Copy started: ${out.ImageId} in ${region}`, true);
  });
  livePreview(preview, ["copy-name", "copy-region", "copy-description", "copy-encrypted", "copy-key"],
    async () => (await previewCopy(input(), val("copy-region"))).Snapshots.map((o) =>
      outcomeItem(o, `${o.DeviceNames.map((d) => deviceLabel(img, d)).join(", ")}: `)));
}

async function launchDialog(img) {
  const [azs, types] = await Promise.all([call("DescribeAvailabilityZones", {}), instanceTypes()]);
  // The types that run the image's architecture, from the engine's own table.
  const fit = types.InstanceTypes.filter((t) => t.Architectures.includes(img.Architecture ?? "x86_64"));
  const rows = img.BlockDeviceMappings.map((m, i) => h("fieldset", { class: "card" },
    h("legend", {}, `${m.DeviceName} (${m.Ebs?.SnapshotId ?? "empty"}, ${m.Ebs?.VolumeSize} GiB)`),
    field(`ov-enc-${i}`, "Encrypt", h("input", { type: "checkbox", "data-device": m.DeviceName })),
    keyPicker(`ov-key-${i}`, "KMS key", "(default / source key)"),
    field(`ov-size-${i}`, "Size (GiB)", h("input", { type: "number", min: 1, placeholder: String(m.Ebs?.VolumeSize ?? "") }))));
  dialog(`Launch from ${img.ImageId}`, [
    field("launch-type", "Instance type", h("select", {}, fit.map((t) =>
      h("option", { value: t.InstanceType, selected: t.InstanceType === types.Default }, t.InstanceType))),
    `Types that run ${img.Architecture ?? "x86_64"} images.`),
    field("launch-count", "Number of instances", h("input", { type: "number", min: 1, value: 1, required: true })),
    field("launch-az", "Availability zone", h("select", {}, (azs.AvailabilityZones ?? []).map((z) => h("option", {}, z.ZoneName))),
      "The zone's default subnet and the default VPC's security group \"default\"."),
    field("launch-key-name", "Key pair name", h("input", { autocomplete: "off" }), "Optional."),
    h("p", { class: "hint" }, "Per-device overrides (left empty: as the image says)."),
    rows,
  ], "Launch", async () => {
    const bdm = [];
    img.BlockDeviceMappings.forEach((m, i) => {
      const ebs = {};
      if (checked(`ov-enc-${i}`)) ebs.Encrypted = true;
      if (val(`ov-key-${i}`)) ebs.KmsKeyId = val(`ov-key-${i}`);
      if (val(`ov-size-${i}`)) ebs.VolumeSize = Number(val(`ov-size-${i}`));
      if (Object.keys(ebs).length) bdm.push({ DeviceName: m.DeviceName, Ebs: ebs });
    });
    const count = Number(val("launch-count"));
    const input = { ImageId: img.ImageId, MinCount: count, MaxCount: count, InstanceType: val("launch-type"),
      Placement: { AvailabilityZone: val("launch-az") } };
    if (val("launch-key-name")) input.KeyName = val("launch-key-name");
    if (bdm.length) input.BlockDeviceMappings = bdm;
    const out = await call("RunInstances", input);
    const ids = (out.Instances ?? []).map((i) => i.InstanceId);
    flash(`Launched ${ids.join(", ")}: see Instances`, true);
  });
}

async function volumesById() {
  const out = await call("DescribeVolumes", {});
  return new Map((out.Volumes ?? []).map((v) => [v.VolumeId, v]));
}

async function instances() {
  const [res, vols] = await Promise.all([call("DescribeInstances", {}), volumesById()]);
  const list = (res.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const rows = list.map((i) => ({
    id: i.InstanceId,
    cells: [
      i.InstanceId, i.ImageId, state(i.State.Name), i.Placement?.AvailabilityZone ?? "",
      h("ul", {}, (i.BlockDeviceMappings ?? []).map((m) => {
        const v = vols.get(m.Ebs.VolumeId);
        return h("li", {}, `${m.DeviceName} ${m.Ebs.VolumeId} ${v ? v.Size + " GiB" : ""} — `,
          v?.KmsKeyId ? keyName(v.KmsKeyId) : "unencrypted");
      })),
      [
        h("button", { onclick: () => act("StopInstances", i), disabled: i.State.Name !== "running" }, "Stop"),
        h("button", { onclick: () => act("StartInstances", i), disabled: i.State.Name !== "stopped" }, "Start"),
        h("button", { onclick: () => createImageDialog(i), disabled: !["running", "stopped"].includes(i.State.Name) }, "Create image"),
        h("button", { class: "danger", disabled: i.State.Name === "terminated", onclick: () => confirmThen("Terminate instance",
          `Terminate ${i.InstanceId}? Volumes with delete-on-termination are deleted.`, "Terminate",
          () => call("TerminateInstances", { InstanceIds: [i.InstanceId] })) }, "Terminate"),
      ],
    ],
  }));
  return [h("h1", {}, "Instances"), h("p", { class: "hint" }, "Launch an instance from the AMIs page."),
    table(["Instance", "AMI", "State", "Zone", "Volumes and keys", "Actions"], rows, "instances")];
}

async function act(op, i) {
  try {
    await call(op, { InstanceIds: [i.InstanceId] });
    await render();
  } catch (e) {
    fail(e);
  }
}

function createImageDialog(i) {
  dialog(`Create image from ${i.InstanceId}`, [
    field("ci-name", "Image name", h("input", { required: true })),
    field("ci-description", "Description", h("input", {})),
    field("ci-noreboot", "No reboot", h("input", { type: "checkbox" })),
  ], "Create image", async () => {
    const input = { InstanceId: i.InstanceId, Name: val("ci-name"), NoReboot: checked("ci-noreboot") };
    if (val("ci-description")) input.Description = val("ci-description");
    const out = await call("CreateImage", input);
    track(out.ImageId, "image", S.region);
    flash(`Creating ${out.ImageId}`, true);
  });
}

// Filters for encrypted and key, kept while the page is re-rendered.
const F = { volumes: { enc: "", key: "" }, snapshots: { enc: "", key: "" } };

function filterBar(which) {
  const f = F[which];
  const enc = h("select", { id: `${which}-f-enc` },
    [["", "any"], ["true", "encrypted"], ["false", "unencrypted"]].map(([v, t]) =>
      h("option", { value: v, selected: f.enc === v }, t)));
  const key = keyPicker(`${which}-f-key`, "Key", "any");
  key.querySelector("select").value = f.key;
  enc.onchange = () => { f.enc = enc.value; render(); };
  key.querySelector("select").onchange = (e) => { f.key = e.target.value; render(); };
  return h("div", { class: "toolbar" }, h("label", {}, "Encrypted", enc), key);
}

// Filters as DescribeVolumes/DescribeSnapshots take them; a key alias is resolved to its ARN
// by DescribeKey, as the filter compares ARNs.
async function filters(which) {
  const f = F[which], out = [];
  if (f.enc) out.push({ Name: "encrypted", Values: [f.enc] });
  if (f.key) {
    const m = await call("DescribeKey", { KeyId: f.key });
    out.push({ Name: "kms-key-id", Values: [m.KeyMetadata.Arn] });
  }
  return out;
}

async function volumes() {
  const out = await call("DescribeVolumes", { Filters: await filters("volumes") });
  const rows = (out.Volumes ?? []).map((v) => ({
    id: v.VolumeId,
    cells: [v.VolumeId, `${v.Size} GiB`, state(v.State), v.SnapshotId || "—", keyCell(v.KmsKeyId),
      (v.Attachments ?? []).map((a) => `${a.InstanceId} ${a.Device}`).join(", ") || "—",
      [
        h("button", { onclick: () => attachDialog(v), disabled: v.State !== "available" }, "Attach"),
        h("button", { onclick: () => confirmThen("Detach volume", `Detach ${v.VolumeId}?`, "Detach",
          () => call("DetachVolume", { VolumeId: v.VolumeId })), disabled: v.State !== "in-use" }, "Detach"),
        h("button", { onclick: () => snapshotDialog(v), disabled: v.State === "creating" }, "Create snapshot"),
        h("button", { class: "danger", disabled: v.State !== "available", onclick: () => confirmThen("Delete volume",
          `Delete ${v.VolumeId}? Its data is gone for good.`, "Delete", () => call("DeleteVolume", { VolumeId: v.VolumeId })) }, "Delete"),
      ]],
  }));
  return [h("h1", {}, "Volumes"), filterBar("volumes"),
    h("div", { class: "toolbar" }, h("button", { class: "primary", onclick: () => createVolumeDialog() }, "Create volume")),
    table(["Volume", "Size", "State", "Snapshot", "Key", "Attached to", "Actions"], rows, "volumes")];
}

async function createVolumeDialog(snapshotId) {
  const [azs, snaps] = await Promise.all([call("DescribeAvailabilityZones", {}), call("DescribeSnapshots", { OwnerIds: ["self"] })]);
  dialog("Create volume", [
    field("cv-az", "Availability zone", h("select", {}, (azs.AvailabilityZones ?? []).map((z) => h("option", {}, z.ZoneName)))),
    field("cv-snapshot", "From snapshot", h("select", {}, h("option", { value: "" }, "(empty volume)"),
      (snaps.Snapshots ?? []).filter((s) => s.State === "completed").map((s) =>
        h("option", { value: s.SnapshotId, selected: s.SnapshotId === snapshotId }, `${s.SnapshotId} (${s.VolumeSize} GiB, ${keyName(s.KmsKeyId)})`)))),
    field("cv-size", "Size (GiB)", h("input", { type: "number", min: 1 }), "Required for an empty volume."),
    field("cv-encrypted", "Encrypted", h("input", { type: "checkbox" })),
    keyPicker("cv-key", "KMS key", "(default)"),
  ], "Create volume", async () => {
    const input = { AvailabilityZone: val("cv-az") };
    if (val("cv-snapshot")) input.SnapshotId = val("cv-snapshot");
    if (val("cv-size")) input.Size = Number(val("cv-size"));
    if (checked("cv-encrypted")) input.Encrypted = true;
    if (val("cv-key")) input.KmsKeyId = val("cv-key");
    const out = await call("CreateVolume", input);
    track(out.VolumeId, "volume", S.region, out.Size);
    flash(`Creating ${out.VolumeId}`, true);
  });
}

async function attachDialog(v) {
  const res = await call("DescribeInstances", {});
  const list = (res.Reservations ?? []).flatMap((r) => r.Instances ?? [])
    .filter((i) => ["running", "stopped"].includes(i.State.Name));
  dialog(`Attach ${v.VolumeId}`, [
    field("av-instance", "Instance", h("select", {}, list.map((i) => h("option", { value: i.InstanceId }, `${i.InstanceId} (${i.Placement?.AvailabilityZone})`)))),
    field("av-device", "Device", h("input", { value: "/dev/sdf", required: true })),
  ], "Attach", () => call("AttachVolume", { VolumeId: v.VolumeId, InstanceId: val("av-instance"), Device: val("av-device") }));
}

function snapshotDialog(v) {
  dialog(`Snapshot ${v.VolumeId}`, [field("cs-description", "Description", h("input", {}))], "Create snapshot", async () => {
    const input = { VolumeId: v.VolumeId };
    if (val("cs-description")) input.Description = val("cs-description");
    const out = await call("CreateSnapshot", input);
    track(out.SnapshotId, "snapshot", S.region, out.VolumeSize);
  });
}

async function snapshots() {
  const out = await call("DescribeSnapshots", { OwnerIds: ["self"], Filters: await filters("snapshots") });
  const rows = (out.Snapshots ?? []).map((s) => ({
    id: s.SnapshotId,
    cells: [s.SnapshotId, `${s.VolumeSize} GiB`, [state(s.State), s.State === "pending" ? ` ${s.Progress}` : "",
      s.StateMessage ? h("div", { class: "state-error" }, s.StateMessage) : null],
    keyCell(s.KmsKeyId), h("span", { class: "arn" }, s.DataEncryptionKeyId ?? "—"), s.Description,
    [
      h("button", { onclick: () => createVolumeDialog(s.SnapshotId), disabled: s.State !== "completed" }, "Create volume"),
      h("button", { onclick: () => copySnapshotDialog(s), disabled: s.State !== "completed" }, "Copy"),
      h("button", { onclick: () => registerDialog(s.SnapshotId), disabled: s.State !== "completed" }, "Register image"),
      h("button", { class: "danger", onclick: () => confirmThen("Delete snapshot", `Delete ${s.SnapshotId}?`, "Delete",
        () => call("DeleteSnapshot", { SnapshotId: s.SnapshotId })) }, "Delete"),
    ]],
  }));
  return [h("h1", {}, "Snapshots"), filterBar("snapshots"),
    h("div", { class: "toolbar" },
      h("button", { class: "primary", id: "upload-open", onclick: uploadDialog }, "Upload disk image"),
      h("span", { class: "hint" }, "A raw disk image from this computer becomes a snapshot; register an image from it.")),
    table(["Snapshot", "Size", "State", "Key", "DataEncryptionKeyId", "Description", "Actions"], rows, "snapshots")];
}

async function copySnapshotDialog(s) {
  const regions = await regionNames();
  const preview = h("ul", { class: "preview", id: "csn-preview", "aria-live": "polite" });
  const input = () => {
    const i = { SourceSnapshotId: s.SnapshotId, SourceRegion: S.region };
    if (val("csn-description")) i.Description = val("csn-description");
    if (checked("csn-encrypted")) i.Encrypted = true;
    if (val("csn-key")) i.KmsKeyId = val("csn-key");
    return i;
  };
  dialog(`Copy ${s.SnapshotId}`, [
    field("csn-region", "Destination region", h("select", {}, regions.map((r) => h("option", { value: r, selected: r === S.region }, r)))),
    field("csn-description", "Description", h("input", {})),
    field("csn-encrypted", "Encrypted", h("input", { type: "checkbox" })),
    keyPicker("csn-key", "KMS key", "(default / source key)"),
    h("h3", {}, "What the copy will do"),
    preview,
  ], "Copy snapshot", async () => {
    const region = val("csn-region");
    const out = await call("CopySnapshot", input(), region);
    track(out.SnapshotId, "snapshot", region, s.VolumeSize);
    flash(`Copying to ${out.SnapshotId} in ${region}`, true);
  });
  livePreview(preview, ["csn-region", "csn-description", "csn-encrypted", "csn-key"],
    async () => [outcomeItem((await previewCopySnapshot(input(), val("csn-region"))).Snapshot, "")]);
}

// ---------- bringing a disk image in ----------

const BLOCK = 512 * 1024;
const GIB = 2 ** 30;

function base64Of(bytes) {
  // FileReader encodes a large buffer natively (no string of 512 Ki characters built by hand).
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result.slice(r.result.indexOf(",") + 1));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(new Blob([bytes]));
  });
}

async function sha256Of(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return btoa(String.fromCharCode(...d));
}

function allZero(bytes) {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  for (let i = 0; i < words.length; i++) if (words[i]) return false;
  return true;
}

function mibPerSecond(bytes, since) {
  const s = (performance.now() - since) / 1000;
  return s > 0 ? `${(bytes / 2 ** 20 / s).toFixed(1)} MiB/s` : "";
}

// Upload: StartSnapshot, PutSnapshotBlock for each 512 KiB block that is not all zeros (with
// its SHA-256), CompleteSnapshot: the EBS direct APIs, as an SDK upload makes them. The last
// block of a file that does not end on a block boundary is padded with zeros, which is what
// the volume holds past the file's end anyway.
function uploadDialog() {
  const bar = h("progress", { id: "up-progress", max: 100, value: 0, "aria-label": "Upload progress" });
  const status = h("p", { id: "up-status", class: "hint", "aria-live": "polite" });
  const file = h("input", { type: "file", required: true });
  const size = h("input", { type: "number", min: 1 });
  file.addEventListener("change", () => {
    const f = file.files[0];
    if (!f) return;
    size.value = String(Math.max(1, Math.ceil(f.size / GIB)));
    status.textContent = `${f.name}: ${f.size} bytes, ${Math.ceil(f.size / BLOCK)} blocks of 512 KiB.`;
  });
  let busy = false;
  dialog("Upload disk image", [
    field("up-file", "Raw disk image", file, "A raw image (as dd or qemu-img convert -O raw make it)."),
    field("up-size", "Volume size (GiB)", size, "At least the image's size; the rest reads as zeros."),
    field("up-description", "Description", h("input", {})),
    field("up-encrypted", "Encrypted", h("input", { type: "checkbox" })),
    keyPicker("up-key", "KMS key", "(default key)"),
    bar, status,
  ], "Upload", async () => {
    const f = file.files[0];
    if (!f) throw new Error("Choose a raw disk image file.");
    if (f.size === 0) throw new Error(`${f.name} is empty: there is nothing to upload.`);
    if (!globalThis.crypto?.subtle) {
      throw new Error("This browser computes SHA-256 only for secure pages: open the console at " +
        "http://127.0.0.1 or http://localhost (as blockseal serve prints it), not another address.");
    }
    const least = Math.ceil(f.size / GIB);
    if (!(Number(size.value) >= least)) {
      // Caught here rather than by the block past the volume's end, after a snapshot was started.
      throw new Error(`The volume size must be at least ${least} GiB to hold ${f.name} (${f.size} bytes).`);
    }
    const input = { VolumeSize: Number(size.value), Description: val("up-description") || `Uploaded from ${f.name}` };
    if (checked("up-encrypted")) input.Encrypted = true;
    // StartSnapshot takes a key ARN: an alias picked here is resolved by KMS first.
    if (val("up-key")) input.KmsKeyArn = (await call("DescribeKey", { KeyId: val("up-key") })).KeyMetadata.Arn;
    busy = true;
    try {
      const { SnapshotId: id } = await call("StartSnapshot", input);
      const blocks = Math.ceil(f.size / BLOCK);
      const t0 = performance.now();
      let next = 0, done = 0, written = 0, bytes = 0;
      const show = () => {
        bar.value = Math.floor((100 * done) / blocks);
        status.textContent = `${id}: block ${done} of ${blocks}, ${written} written, ` +
          `${done - written} all-zero skipped · ${mibPerSecond(bytes, t0)}`;
      };
      // A few blocks in flight, as the SDKs upload them.
      const worker = async () => {
        while (next < blocks) {
          const i = next++;
          const end = Math.min(f.size, (i + 1) * BLOCK);
          const block = new Uint8Array(BLOCK);
          block.set(new Uint8Array(await f.slice(i * BLOCK, end).arrayBuffer()));
          if (!allZero(block)) {
            const [checksum, data] = await Promise.all([sha256Of(block), base64Of(block)]);
            await call("PutSnapshotBlock", { SnapshotId: id, BlockIndex: i, DataLength: BLOCK,
              Checksum: checksum, ChecksumAlgorithm: "SHA256", BlockData: data });
            written++;
          }
          done++;
          bytes += end - i * BLOCK;
          show();
        }
      };
      try {
        await Promise.all([worker(), worker(), worker(), worker()]);
      } catch (e) {
        next = blocks;
        if (e instanceof ApiError) {
          throw new ApiError(e.code, `${e.msg} (the upload stopped; ${id} stays pending and can be deleted)`);
        }
        throw e;
      }
      const end = await call("CompleteSnapshot", { SnapshotId: id, ChangedBlocksCount: written });
      flash(`Uploaded ${f.name} to ${id} (${end.Status}): ${written} of ${blocks} blocks written, ` +
        `${blocks - written} all-zero skipped, ${mibPerSecond(bytes, t0)}.`, true);
    } finally {
      busy = false;
    }
  });
  // While blocks are going out the dialog stays open: it is where the progress is.
  const d = document.getElementById("dialog");
  document.getElementById("dialog-cancel").onclick = () => { if (!busy) d.close(); };
  d.oncancel = (e) => { if (busy) e.preventDefault(); };
}

async function registerDialog(snapshotId) {
  const [snaps, types] = await Promise.all([call("DescribeSnapshots", { OwnerIds: ["self"] }), instanceTypes()]);
  const done = (snaps.Snapshots ?? []).filter((s) => s.State === "completed");
  const snapOptions = (chosen) => done.map((s) => h("option", { value: s.SnapshotId, selected: s.SnapshotId === chosen },
    `${s.SnapshotId} (${s.VolumeSize} GiB, ${keyName(s.KmsKeyId)})`));
  // The architectures instance types run, from the engine's table.
  const archs = [...new Set(types.InstanceTypes.flatMap((t) => t.Architectures))];
  const extra = h("div", { id: "rg-extra" });
  let n = 0;
  const addDevice = () => {
    const i = n++;
    extra.append(h("fieldset", { class: "card", "data-row": String(i) },
      h("legend", {}, "Volume"),
      field(`rg-dev-${i}`, "Device name", h("input", { value: `/dev/sd${"fghijklmnop"[i % 11]}`, required: true })),
      field(`rg-snap-${i}`, "Snapshot", h("select", {}, snapOptions())),
      h("button", { type: "button", class: "danger", onclick: (e) => e.target.closest("fieldset").remove() }, "Remove")));
  };
  dialog("Register image", [
    field("rg-name", "Name", h("input", { required: true })),
    field("rg-description", "Description", h("input", {})),
    field("rg-arch", "Architecture", h("select", {}, archs.map((a) => h("option", { value: a, selected: a === "x86_64" }, a)))),
    field("rg-root", "Root device name", h("input", { value: "/dev/xvda", required: true })),
    field("rg-snapshot", "Root snapshot", h("select", {}, snapOptions(snapshotId))),
    field("rg-boot", "Boot mode", h("select", {}, ["", "legacy-bios", "uefi", "uefi-preferred"].map((b) =>
      h("option", { value: b }, b || "(the architecture's default)")))),
    h("h3", {}, "More volumes"),
    extra,
    h("button", { type: "button", id: "rg-add", onclick: addDevice }, "Add a volume"),
  ], "Register image", async () => {
    const bdm = [{ DeviceName: val("rg-root"), Ebs: { SnapshotId: val("rg-snapshot") } }];
    for (const fs of extra.querySelectorAll("fieldset")) {
      const i = fs.dataset.row;
      bdm.push({ DeviceName: val(`rg-dev-${i}`), Ebs: { SnapshotId: val(`rg-snap-${i}`) } });
    }
    const input = { Name: val("rg-name"), Architecture: val("rg-arch"), RootDeviceName: val("rg-root"),
      BlockDeviceMappings: bdm };
    if (val("rg-description")) input.Description = val("rg-description");
    if (val("rg-boot")) input.BootMode = val("rg-boot");
    const out = await call("RegisterImage", input);
    flash(`Registered ${out.ImageId} (${input.Name}): see AMIs`, true);
  });
}

async function keysPage() {
  const [vols, snaps] = await Promise.all([call("DescribeVolumes", {}), call("DescribeSnapshots", { OwnerIds: ["self"] })]);
  const usage = (arn) => [
    ...(snaps.Snapshots ?? []).filter((s) => s.KmsKeyId === arn).map((s) => s.SnapshotId),
    ...(vols.Volumes ?? []).filter((v) => v.KmsKeyId === arn).map((v) => v.VolumeId),
  ];
  const rows = S.keys.map((k) => {
    const used = usage(k.Arn);
    const pending = k.KeyState === "PendingDeletion";
    return {
      id: k.KeyId,
      cells: [
        aliasesOf(k.Arn).join(", ") || "—", h("span", { class: "arn" }, k.Arn), k.KeyManager,
        [state(k.KeyState), pending && k.DeletionDate ? h("div", { class: "hint" }, `deleted after ${new Date(k.DeletionDate * 1000).toISOString()}`) : null],
        used.length ? h("ul", {}, used.map((u) => h("li", {}, u))) : h("span", { class: "muted" }, "nothing"),
        k.KeyManager !== "CUSTOMER" ? "" : [
          h("button", { disabled: k.KeyState !== "Disabled", onclick: () => keyAct("EnableKey", k) }, "Enable"),
          h("button", { disabled: k.KeyState !== "Enabled", onclick: () => confirmThen("Disable key",
            `Disable ${keyName(k.Arn)}? ${used.length} snapshots and volumes use it.`, "Disable", () => call("DisableKey", { KeyId: k.KeyId })) }, "Disable"),
          h("button", { onclick: () => aliasDialog(k) }, "Add alias"),
          h("button", { onclick: () => grantsDialog(k) }, "Grants"),
          pending ? h("button", { onclick: () => keyAct("CancelKeyDeletion", k) }, "Cancel deletion")
            : h("button", { class: "danger", onclick: () => deletionDialog(k, used) }, "Schedule deletion"),
        ],
      ],
    };
  });
  return [h("h1", {}, "KMS keys"),
    h("div", { class: "toolbar" }, h("button", { class: "primary", onclick: createKeyDialog }, "Create key")),
    table(["Aliases", "ARN", "Manager", "State", "Protects", "Actions"], rows, "keys")];
}

async function keyAct(op, k) {
  try {
    await call(op, { KeyId: k.KeyId });
    await render();
  } catch (e) {
    fail(e);
  }
}

function createKeyDialog() {
  dialog("Create key", [
    field("ck-description", "Description", h("input", {})),
    field("ck-alias", "Alias", h("input", { placeholder: "alias/k1" }), "Optional; starts with alias/."),
  ], "Create key", async () => {
    const input = {};
    if (val("ck-description")) input.Description = val("ck-description");
    const out = await call("CreateKey", input);
    if (val("ck-alias")) await call("CreateAlias", { AliasName: val("ck-alias"), TargetKeyId: out.KeyMetadata.KeyId });
    flash(`Created ${out.KeyMetadata.Arn}`, true);
  });
}

function aliasDialog(k) {
  dialog(`Alias for ${k.KeyId}`, [field("al-name", "Alias name", h("input", { placeholder: "alias/name", required: true }))],
    "Create alias", () => call("CreateAlias", { AliasName: val("al-name"), TargetKeyId: k.KeyId }));
}

function deletionDialog(k, used) {
  dialog(`Schedule deletion of ${keyName(k.Arn)}`, [
    h("p", {}, `${used.length} snapshots and volumes are encrypted under this key; once it is deleted they can never be read.`),
    field("kd-days", "Waiting period (days, 7–30)", h("input", { type: "number", min: 7, max: 30, value: 30 })),
  ], "Schedule deletion", () => call("ScheduleKeyDeletion", { KeyId: k.KeyId, PendingWindowInDays: Number(val("kd-days")) }), true);
}

async function grantsDialog(k) {
  const out = await call("ListGrants", { KeyId: k.KeyId });
  const list = (out.Grants ?? []).map((g) => h("li", {}, `${g.GranteePrincipal}: ${(g.Operations ?? []).join(", ")} `,
    h("button", { type: "button", class: "danger", onclick: async () => {
      try {
        await call("RevokeGrant", { KeyId: k.KeyId, GrantId: g.GrantId });
        document.getElementById("dialog").close();
        await grantsDialog(k);
      } catch (e) { fail(e); }
    } }, "Revoke")));
  const ops = ["Decrypt", "Encrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant", "DescribeKey"];
  dialog(`Grants on ${keyName(k.Arn)}`, [
    list.length ? h("ul", {}, list) : h("p", { class: "muted" }, "No grants."),
    h("h3", {}, "New grant"),
    field("gr-principal", "Grantee principal (ARN)", h("input", {})),
    h("fieldset", {}, h("legend", {}, "Operations"), ops.map((o, i) =>
      field(`gr-op-${i}`, o, h("input", { type: "checkbox", value: o })))),
  ], "Create grant", async () => {
    const chosen = ops.filter((_, i) => checked(`gr-op-${i}`));
    await call("CreateGrant", { KeyId: k.KeyId, GranteePrincipal: val("gr-principal"), Operations: chosen });
  });
}

async function encryption() {
  const [ebd, key] = await Promise.all([call("GetEbsEncryptionByDefault", {}), call("GetEbsDefaultKmsKeyId", {})]);
  const on = ebd.EbsEncryptionByDefault;
  const picker = keyPicker("ebs-key", "Default key for EBS encryption", "(choose a key)");
  return [h("h1", {}, `EBS encryption — ${S.region}`),
    h("section", { class: "card" },
      h("p", {}, "Encryption by default: ", h("strong", { id: "ebd-state" }, on ? "enabled" : "disabled")),
      h("button", { id: "ebd-toggle", onclick: () => run(on ? "DisableEbsEncryptionByDefault" : "EnableEbsEncryptionByDefault") },
        on ? "Disable encryption by default" : "Enable encryption by default")),
    h("section", { class: "card" },
      h("p", { id: "ebs-default" }, "Default key: ", keyCell(key.KmsKeyId)),
      picker,
      h("button", { onclick: () => val("ebs-key") && run("ModifyEbsDefaultKmsKeyId", { KmsKeyId: val("ebs-key") }) }, "Change default key"),
      " ",
      h("button", { onclick: () => run("ResetEbsDefaultKmsKeyId") }, "Reset to aws/ebs"))];
}

async function run(op, input = {}) {
  try {
    await call(op, input);
    await render();
  } catch (e) {
    fail(e);
  }
}

// ---------- live work ----------

// Follows a job's resource until it is no longer pending.
function track(id, kind, region, size) {
  S.tracked.set(id, { kind, region, size, first: null, last: null, done: false, text: "" });
  poll();
}

let polling = false;

async function poll() {
  if (polling) return;
  polling = true;
  try {
    const regions = new Set([...S.tracked.values()].filter((t) => !t.done).map((t) => t.region));
    regions.add(S.region);
    let finished = false;
    for (const region of regions) {
      const [snaps, imgs, vols] = await Promise.all([
        call("DescribeSnapshots", { OwnerIds: ["self"] }, region),
        call("DescribeImages", { Owners: ["self"] }, region),
        call("DescribeVolumes", {}, region),
      ]);
      const now = performance.now();
      const seen = (id, kind, size, pending, pct, final, error) => {
        let t = S.tracked.get(id);
        if (!t) {
          if (!pending) return;
          t = { kind, region, size, first: null, last: null, done: false };
          S.tracked.set(id, t);
        }
        if (t.done) return;
        t.size = size ?? t.size;
        if (pending) {
          const p = { pct, t: now };
          t.first ??= p;
          t.last = p;
          t.state = "pending";
        } else {
          t.done = true;
          t.endedAt = now;
          t.state = final;
          t.error = error;
          t.pct = 100;
          finished = true;
        }
      };
      for (const s of snaps.Snapshots ?? []) {
        // A snapshot made for an image (its description names the image) is the image's work.
        if (/ami-[0-9a-f]{17}/.test(s.Description ?? "") && !S.tracked.has(s.SnapshotId)) continue;
        seen(s.SnapshotId, "snapshot", s.VolumeSize, s.State === "pending", parseFloat(s.Progress) || 0,
          s.State, s.State === "error" ? s.StateMessage : null);
      }
      for (const i of imgs.Images ?? []) {
        seen(i.ImageId, "image", null, i.State === "pending", null, i.State,
          i.StateReason ? `${i.StateReason.Code}: ${i.StateReason.Message}` : null);
      }
      for (const v of vols.Volumes ?? []) {
        seen(v.VolumeId, "volume", v.Size, v.State === "creating", null, v.State, null);
      }
      // An image's progress is its snapshots' (they name it in their description).
      for (const [id, t] of S.tracked) {
        if (t.kind !== "image" || t.region !== region) continue;
        const mine = (snaps.Snapshots ?? []).filter((s) => (s.Description ?? "").includes(id));
        if (mine.length && !t.done) {
          const total = mine.reduce((a, s) => a + s.VolumeSize, 0);
          const pct = mine.reduce((a, s) => a + (s.State === "pending" ? parseFloat(s.Progress) || 0 : 100) * s.VolumeSize, 0) / total;
          t.size = total;
          t.last = { pct, t: now };
          t.first ??= t.last;
        }
      }
    }
    drawJobs();
    if (finished) await render();
  } catch (e) {
    fail(e);
  } finally {
    polling = false;
  }
  const active = [...S.tracked.values()].some((t) => !t.done);
  setTimeout(poll, active ? 700 : 4000);
}

function rate(t) {
  if (!t.first || !t.last || t.last.t <= t.first.t || !t.size) return "";
  const bytes = ((t.last.pct - t.first.pct) / 100) * t.size * 2 ** 30;
  const mib = bytes / 2 ** 20 / ((t.last.t - t.first.t) / 1000);
  return mib > 0 ? `${mib.toFixed(0)} MiB/s` : "";
}

function drawJobs() {
  const box = document.getElementById("jobs");
  // What runs, and the last few that ended (until cleared).
  const all = [...S.tracked.entries()];
  const now = performance.now();
  const ended = all.filter(([, t]) => t.done && !t.cleared && now - t.endedAt < 60000)
    .sort(([, a], [, b]) => a.endedAt - b.endedAt).slice(-5);
  const list = [...all.filter(([, t]) => !t.done), ...ended];
  box.hidden = list.length === 0;
  const clear = ended.length ? h("button", { id: "jobs-clear", onclick: () => {
    for (const [, t] of ended) t.cleared = true;
    drawJobs();
  } }, "Clear finished") : null;
  box.replaceChildren(h("h2", {}, "Work ", clear), ...list.map(([id, t]) => {
    const pct = t.done ? 100 : Math.round(t.last?.pct ?? 0);
    const status = t.done ? [state(t.state), t.error ? h("span", { class: "state-error" }, ` ${t.error}`) : null]
      : [`${pct}%`, rate(t) ? ` · ${rate(t)}` : ""];
    return h("div", { class: "job", "data-job": id, "data-state": t.state ?? "pending" },
      h("span", {}, `${t.kind} ${id} (${t.region})`),
      h("progress", { max: 100, value: pct, "aria-label": `${id} progress` }),
      h("span", { class: "job-status" }, status));
  }));
}

// ---------- who acts ----------

// Every user of an account, listed by IAM ListUsers as `as` (all pages).
async function usersOf(as) {
  const names = [];
  let marker;
  do {
    const out = await call("ListUsers", marker ? { Marker: marker } : {}, S.region, as);
    names.push(...(out.Users ?? []).map((u) => u.UserName));
    marker = out.IsTruncated ? out.Marker : undefined;
  } while (marker);
  return names;
}

// The principal picker: the home's accounts and their users (ListUsers as the acting principal
// in its own account, as each other account's admin elsewhere). If the acting principal may not
// list users, the free-text field stays.
async function principalPicker() {
  const accounts = (await post("/console/accounts", { Region: S.region, Principal: S.principal })).Accounts;
  const [acct] = S.principal.includes(":") ? S.principal.split(":") : [null];
  const mine = acct === null ? accounts[0] : accounts.find((a) => a.Id === acct || a.Name === acct);
  const groups = [];
  for (const [n, a] of accounts.entries()) {
    const prefix = n === 0 ? "" : `${a.Name ?? a.Id}:`;
    const users = await usersOf(a === mine ? S.principal : `${prefix}admin`);
    groups.push(h("optgroup", { label: `Account ${a.Id}${a.Name ? ` (${a.Name})` : ""}` },
      users.map((u) => h("option", { value: `${prefix}${u}`, selected: `${prefix}${u}` === S.principal }, `${prefix}${u}`))));
  }
  const pick = h("select", { id: "principal" }, groups);
  if (![...pick.options].some((o) => o.selected)) {
    pick.prepend(h("option", { value: S.principal, selected: true }, S.principal));
  }
  return pick;
}

// ---------- start ----------

function fromHash() {
  const page = location.hash.replace(/^#/, "");
  if (pages[page]) S.page = page;
}

async function start() {
  const m = /token=([0-9a-f]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("blockseal-token", m[1]);
    history.replaceState(null, "", "#amis");
  }
  S.token = sessionStorage.getItem("blockseal-token") ?? "";
  S.region = sessionStorage.getItem("blockseal-region") ?? S.region;
  S.principal = sessionStorage.getItem("blockseal-principal") ?? S.principal;
  const main = document.getElementById("main");
  if (!S.token) {
    main.replaceChildren(h("h1", {}, "Open the console's URL"),
      h("p", {}, "Open the address `blockseal serve` printed (it carries the console's token)."));
    return;
  }
  let principal = document.getElementById("principal");
  principal.value = S.principal;
  try {
    const pick = await principalPicker();
    principal.replaceWith(pick);
    principal = pick;
  } catch (e) {
    // Listing denied (or failed): the free-text field stays, with why in its hint.
    principal.title = e instanceof ApiError ? `Users cannot be listed: ${e.code}` : String(e);
  }
  principal.addEventListener("change", () => {
    S.principal = principal.value.trim() || "admin";
    sessionStorage.setItem("blockseal-principal", S.principal);
    render();
  });
  const region = document.getElementById("region");
  try {
    const names = await regionNames();
    region.replaceChildren(...names.map((r) => h("option", { value: r, selected: r === S.region }, r)));
  } catch (e) {
    fail(e);
  }
  region.addEventListener("change", () => {
    S.region = region.value;
    sessionStorage.setItem("blockseal-region", S.region);
    render();
  });
  window.addEventListener("hashchange", () => { fromHash(); flash(""); render(); });
  fromHash();
  await render();
  poll();
}

start();
