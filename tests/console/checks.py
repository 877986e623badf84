"""The web console, driven by a real browser (headless Chromium through chromedriver): the seed
scenarios S1-S5 done only by clicking from an empty home (a raw disk image made here uploaded
through the page's file input, the base AMI registered from its snapshot), each result checked
through the API with boto3 and the data read back with `blockseal ec2 export-snapshot`; the copy
dialogs' previews for every row of the encryption-outcome table; every page at 1280x800 and at
phone width, with screenshots, no browser console errors, the keyboard, the principal picker and
the token.

Run by tests/console.rs, one check per process, against a `blockseal serve` it started on a fresh
home:  python checks.py API_URL CONSOLE_URL SCREENSHOT_DIR CHECK
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from webdriver import ELEMENT, Browser, WebDriverError  # noqa: E402

API, CONSOLE, SHOTS, CHECK = sys.argv[1:5]
REGION = "us-east-1"
CHROMIUM = os.environ.get("BLOCKSEAL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BLOCKSEAL_CHROMEDRIVER", "/usr/bin/chromedriver")
BS = 512 * 1024
BIN = os.environ["BLOCKSEAL_BIN"]
HOME = os.environ["BLOCKSEAL_HOME"]
SCRATCH = tempfile.TemporaryDirectory(prefix="blockseal-console-")


def client(service, region=REGION):
    return boto3.client(service, endpoint_url=API, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, read_timeout=300))


ec2, ebs, kms, iam = client("ec2"), client("ebs"), client("kms"), client("iam")


def disk_image(name, blocks, zero, tail):
    """A raw disk image file: `blocks` whole 512 KiB blocks of random bytes, those in `zero` all
    zeros, then `tail` more random bytes (a file that does not end on a block boundary)."""
    data = bytearray()
    for i in range(blocks):
        data += bytes(BS) if i in zero else os.urandom(BS)
    data += os.urandom(tail)
    path = os.path.join(SCRATCH.name, name)
    with open(path, "wb") as f:
        f.write(data)
    return path, bytes(data)


def exported(snapshot_id, n):
    """The first `n` bytes of the snapshot, as `blockseal ec2 export-snapshot` writes them, and
    whether the rest of its last block is zeros."""
    path = os.path.join(SCRATCH.name, f"{snapshot_id}.raw")
    out = subprocess.run([BIN, "--home", HOME, "ec2", "export-snapshot", "--snapshot-id",
                          snapshot_id, "--file", path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    try:
        with open(path, "rb") as f:
            data = f.read(n)
            rest = f.read(-n % BS)
        return data, rest == bytes(len(rest))
    finally:
        os.remove(path)


def snapshots_of(image_id, region=REGION):
    c = ec2 if region == REGION else client("ec2", region)
    img = c.describe_images(ImageIds=[image_id])["Images"][0]
    ids = {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]}
    snaps = {s["SnapshotId"]: s for s in c.describe_snapshots(SnapshotIds=list(ids.values()))["Snapshots"]}
    return img, {d: snaps[s] for d, s in ids.items()}


def arn_of(alias):
    return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]


def wait_image(image_id, region=REGION):
    c = ec2 if region == REGION else client("ec2", region)
    c.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1})


# ----- the browser, as a user works it -------------------------------------------------------

class Console:
    def __init__(self, width=1280, height=800):
        self.b = Browser(CHROMIUM, CHROMEDRIVER, width, height)
        self.b.get(CONSOLE)
        self.ready()

    def ready(self, page=None, after=None):
        """Waits for the page (`page`, if given) to have rendered after time stamp `after`."""
        return self.b.wait(
            "const m = document.getElementById('main');"
            "return m.dataset.ready && (!arguments[0] || m.dataset.page === arguments[0])"
            " && (!arguments[1] || m.dataset.ready !== arguments[1]) && m.dataset.ready;",
            page, after, what=f"page {page}")

    def stamp(self):
        return self.b.js("return document.getElementById('main').dataset.ready || '';")

    def goto(self, page):
        """Opens `page` from the navigation bar (through another page if it is open)."""
        if self.b.js("return document.getElementById('main').dataset.page;") == page:
            other = "encryption" if page != "encryption" else "amis"
            self.goto(other)
        before = self.stamp()
        self.b.click(f'nav a[data-page="{page}"]')
        self.ready(page, before)

    def button(self, scope_xpath, label):
        # Found again if a re-render (a job ended) made the first one stale.
        for attempt in range(5):
            el = self.b.cmd("POST", "/element", {
                "using": "xpath",
                "value": f"{scope_xpath}//button[normalize-space()='{label}']"})
            try:
                return self.b.cmd("POST", f"/element/{el[ELEMENT]}/click", {})
            except WebDriverError as e:
                if "stale element" not in str(e) or attempt == 4:
                    raise

    def on_image(self, image_id, label):
        self.button(f"//section[@data-image='{image_id}']", label)
        self.dialog_open()

    def on_row(self, row_id, label):
        self.button(f"//tr[@data-id='{row_id}']", label)

    def dialog_open(self):
        self.b.wait("return document.getElementById('dialog').open;", what="the dialog")

    def submit(self):
        """Submits the open dialog; returns the error it shows, or None once it closed."""
        before = self.stamp()
        self.b.click("#dialog-ok")
        out = self.b.wait(
            "const d = document.getElementById('dialog');"
            "const e = document.getElementById('dialog-error').textContent;"
            "if (e) return {error: e};"
            "return !d.open && {ok: true};", what="the dialog to close or fail")
        if "error" in out:
            return out["error"]
        self.ready(None, before)
        return None

    def must_submit(self):
        err = self.submit()
        assert err is None, f"the dialog failed: {err}"
        return self.b.text("#flash") if self.b.js("return !!document.getElementById('flash').textContent") else ""

    def cancel(self):
        self.b.click("#dialog-cancel")
        self.b.wait("return !document.getElementById('dialog').open;")

    def check(self, css, on=True):
        if self.b.js("return document.querySelector(arguments[0]).checked;", css) != on:
            self.b.click(css)

    def preview(self, list_id="copy-preview"):
        """A copy dialog's outcome lines, once the preview answered the dialog's last change."""
        self.b.wait("const p = document.getElementById(arguments[0]);"
                    "return p.dataset.seq && p.children.length;", list_id, what="the preview")
        time.sleep(0.3)  # a change typed just now may still be on its way
        self.b.wait("const p = document.getElementById(arguments[0]);"
                    "return p.children.length;", list_id, what="the preview")
        return self.b.js("return [...document.getElementById(arguments[0]).querySelectorAll('li')]"
                         ".map(l => l.textContent);", list_id)

    def shot(self, name):
        """Saves a screenshot, the work panel's finished entries cleared first."""
        # By script: the panel is redrawn as jobs report, so a found button can go stale.
        self.b.js("if (!document.getElementById('dialog').open)"
                  " document.getElementById('jobs-clear')?.click();")
        os.makedirs(SHOTS, exist_ok=True)
        self.b.screenshot(os.path.join(SHOTS, f"{name}.png"))

    def errors(self):
        return self.b.console_errors()

    def close(self):
        self.b.close()

    # -- tasks --

    def upload(self, path, encrypted=False, key=None, shot=None):
        """Uploads raw image `path` from the Snapshots page; returns the snapshot id and the
        message the page ends with."""
        self.goto("snapshots")
        self.b.click("#upload-open")
        self.dialog_open()
        # chromedriver sets a file input to the path sent to it as keys.
        self.b.keys("#up-file", path)
        self.b.wait("return document.getElementById('up-size').value !== '';", what="the size")
        if encrypted:
            self.check("#up-encrypted")
        if key:
            self.b.select("#up-key", key)
        if shot:
            self.shot(shot)
        flash = self.must_submit()
        sid = re.search(r"snap-[0-9a-f]+", flash).group(0)
        return sid, flash

    def register(self, name, snapshot_id, extra=(), from_amis=False, shot=None):
        """Registers an image from the Snapshots page's row action (or the AMIs page's button),
        root `/dev/xvda` on `snapshot_id`, `extra` (device, snapshot) pairs more."""
        if from_amis:
            self.goto("amis")
            self.b.click("#register-open")
            self.dialog_open()
            self.b.select("#rg-snapshot", snapshot_id)
        else:
            self.goto("snapshots")
            self.on_row(snapshot_id, "Register image")
            self.dialog_open()
        self.b.type("#rg-name", name)
        for i, (device, sid) in enumerate(extra):
            self.b.click("#rg-add")
            self.b.type(f"#rg-dev-{i}", device)
            self.b.select(f"#rg-snap-{i}", sid)
        if shot:
            self.shot(shot)
        return re.search(r"ami-[0-9a-f]+", self.must_submit()).group(0)

    def create_key(self, alias):
        self.goto("keys")
        self.b.click("main .toolbar button.primary")
        self.dialog_open()
        self.b.type("#ck-description", alias)
        self.b.type("#ck-alias", f"alias/{alias}")
        self.must_submit()

    def launch(self, image_id, overrides=None, instance_type=None, key_name=None, shot=None):
        self.goto("amis")
        self.on_image(image_id, "Launch")
        if instance_type:
            self.b.select("#launch-type", instance_type)
        if key_name:
            self.b.type("#launch-key-name", key_name)
        if shot:
            self.shot(shot)
        for i, (enc, key) in (overrides or {}).items():
            if enc:
                self.check(f"#ov-enc-{i}")
            if key:
                self.b.select(f"#ov-key-{i}", key)
        flash = self.must_submit()
        iid = re.search(r"i-[0-9a-f]+", flash).group(0)
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
        return iid

    def create_volume(self, size, key):
        self.goto("volumes")
        self.b.click("main .toolbar button.primary")
        self.dialog_open()
        self.b.type("#cv-size", str(size))
        self.check("#cv-encrypted")
        self.b.select("#cv-key", key)
        vid = re.search(r"vol-[0-9a-f]+", self.must_submit()).group(0)
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1})
        return vid

    def attach(self, vid, iid, device):
        self.goto("volumes")
        self.on_row(vid, "Attach")
        self.dialog_open()
        self.b.select("#av-instance", iid)
        self.b.type("#av-device", device)
        self.must_submit()
        v = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
        assert v["State"] == "in-use" and v["Attachments"][0]["InstanceId"] == iid, v

    def create_image(self, iid, name, no_reboot=False):
        self.goto("instances")
        self.on_row(iid, "Create image")
        self.dialog_open()
        self.b.type("#ci-name", name)
        if no_reboot:
            self.check("#ci-noreboot")
        ami = re.search(r"ami-[0-9a-f]+", self.must_submit()).group(0)
        wait_image(ami)
        return ami

    def open_copy(self, image_id):
        self.goto("amis")
        self.on_image(image_id, "Copy")

    def copy(self, image_id, name, encrypted=False, key=None, region=REGION, expect=None,
             shot=None):
        self.open_copy(image_id)
        self.b.type("#copy-name", name)
        if region != REGION:
            self.b.select("#copy-region", region)
        if encrypted:
            self.check("#copy-encrypted")
        if key:
            self.b.select("#copy-key", key)
        lines = self.preview()
        if expect is not None:
            assert lines == expect, f"preview {lines}, expected {expect}"
        if shot:
            self.shot(shot)
        flash = self.must_submit()
        ami = re.search(r"ami-[0-9a-f]+", flash).group(0)
        # The work panel follows the copy to its final state without a reload.
        self.b.wait("const j = document.querySelector(`[data-job='${arguments[0]}']`);"
                    "return j && j.dataset.state === 'available';", ami, timeout=120,
                    what=f"{ami} available in the work panel")
        wait_image(ami, region)
        return ami


# ----- checks -------------------------------------------------------------------------------

def check_scenarios():
    # An empty home: no image, no snapshot, no key.
    assert not ec2.describe_images(Owners=["self"])["Images"]
    assert not ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    # The newcomer's disk: blocks 1 and 3 all zeros, a last block cut short.
    path, data = disk_image("base.raw", 5, {1, 3}, 12345)
    c = Console()
    try:
        # The first image, only by clicking: the disk uploaded, an image registered from it.
        snap, flash = c.upload(path, shot="upload-dialog")
        assert re.search(r"\b4 of 6 blocks written, 2 all-zero skipped\b", flash), flash
        assert re.search(r"\d+(\.\d+)? MiB/s", flash), flash
        s = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]
        assert s["State"] == "completed" and not s["Encrypted"] and s["VolumeSize"] == 1, s
        # Sparse: the all-zero blocks were never sent.
        listed = [b["BlockIndex"] for b in ebs.list_snapshot_blocks(SnapshotId=snap)["Blocks"]]
        assert listed == [0, 2, 4, 5], listed
        back, padded = exported(snap, len(data))
        assert back == data and padded, "the uploaded snapshot reads back as the file"
        # The page ends with what the upload did, its throughput included.
        c.shot("upload-done")
        base = c.register("base", snap, shot="register-dialog")
        img = ec2.describe_images(ImageIds=[base])["Images"][0]
        assert img["State"] == "available" and img["RootDeviceName"] == "/dev/xvda", img
        assert [(m["DeviceName"], m["Ebs"]["SnapshotId"]) for m in img["BlockDeviceMappings"]] \
            == [("/dev/xvda", snap)], img

        for k in ["k1", "k2", "k3", "k4"]:
            c.create_key(k)
        k1, k2, k3, k4 = (arn_of(f"alias/k{i}") for i in range(1, 5))

        # S1: copy an AMI with an encrypted data snapshot.
        iid = c.launch(base, instance_type="t3.small", key_name="newcomer", shot="launch-dialog")
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert inst["InstanceType"] == "t3.small" and inst["KeyName"] == "newcomer", inst
        vol = c.create_volume(4, "alias/k1")
        c.attach(vol, iid, "/dev/sdf")
        ami1 = c.create_image(iid, "ami-one")
        _, s1 = snapshots_of(ami1)
        assert not s1["/dev/xvda"]["Encrypted"] and s1["/dev/sdf"]["KmsKeyId"] == k1, s1
        ami2 = c.copy(ami1, "ami-two", expect=["root: unencrypted → unencrypted, unencrypted",
                                          "sdf: k1 → k1, kept"])
        _, s2 = snapshots_of(ami2)
        assert not s2["/dev/xvda"]["Encrypted"], s2
        assert s2["/dev/sdf"]["KmsKeyId"] == k1, s2
        assert s2["/dev/sdf"]["DataEncryptionKeyId"] == s1["/dev/sdf"]["DataEncryptionKeyId"]
        ids = {s["SnapshotId"] for s in [*s1.values(), *s2.values()]}
        assert len(ids) == 4, ids
        assert exported(s2["/dev/xvda"]["SnapshotId"], len(data))[0] == data
        c.goto("amis")
        c.shot("amis")

        # S3 (and the AMI-E of S2): an unencrypted AMI copied with a chosen key.
        c.open_copy(base)
        c.b.type("#copy-name", "only-key")
        c.b.select("#copy-key", "alias/k2")
        assert any("InvalidParameterDependency" in line for line in c.preview()), c.preview()
        err = c.submit()
        assert err and err.startswith("InvalidParameterDependency"), err
        c.cancel()
        names = {i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]}
        assert "only-key" not in names, names
        ami3 = c.copy(base, "enc-k2", encrypted=True, key="alias/k2",
                      expect=["root: unencrypted → k2, encrypt"])
        _, s3 = snapshots_of(ami3)
        assert s3["/dev/xvda"]["KmsKeyId"] == k2, s3
        assert exported(s3["/dev/xvda"]["SnapshotId"], len(data))[0] == data
        assert not snapshots_of(base)[1]["/dev/xvda"]["Encrypted"]

        # S2: copy an AMI whose root is encrypted (K1), no parameters: K1 kept.
        amie = c.copy(base, "ami-e", encrypted=True, key="alias/k1",
                      expect=["root: unencrypted → k1, encrypt"])
        ami_s2 = c.copy(amie, "s2-copy", expect=["root: k1 → k1, kept"])
        _, se = snapshots_of(amie)
        _, s2b = snapshots_of(ami_s2)
        assert s2b["/dev/xvda"]["KmsKeyId"] == k1 and \
            s2b["/dev/xvda"]["SnapshotId"] != se["/dev/xvda"]["SnapshotId"], s2b

        # S4: launch with the root encrypted under K1, create an image.
        iid4 = c.launch(base, {0: (True, "alias/k1")})
        inst = ec2.describe_instances(InstanceIds=[iid4])["Reservations"][0]["Instances"][0]
        root_vol = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        assert ec2.describe_volumes(VolumeIds=[root_vol])["Volumes"][0]["KmsKeyId"] == k1
        ami4 = c.create_image(iid4, "from-encrypted-root")
        img4, s4 = snapshots_of(ami4)
        assert s4["/dev/xvda"]["KmsKeyId"] == k1, s4
        assert img4["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        assert ec2.describe_instances(InstanceIds=[iid4])["Reservations"][0]["Instances"][0][
            "State"]["Name"] == "running"
        c.goto("instances")
        c.shot("instances")

        # S5: one key per snapshot.
        iid5 = c.launch(amie)
        v2 = c.create_volume(2, "alias/k2")
        v3 = c.create_volume(3, "alias/k3")
        c.attach(v2, iid5, "/dev/sdf")
        c.attach(v3, iid5, "/dev/sdg")
        amim = c.create_image(iid5, "ami-m", no_reboot=True)
        _, sm = snapshots_of(amim)
        assert [sm[d]["KmsKeyId"] for d in ["/dev/xvda", "/dev/sdf", "/dev/sdg"]] == [k1, k2, k3], sm
        assert exported(sm["/dev/xvda"]["SnapshotId"], len(data))[0] == data
        kept = c.copy(amim, "m-kept", expect=["root: k1 → k1, kept", "sdf: k2 → k2, kept",
                                              "sdg: k3 → k3, kept"])
        assert [s["KmsKeyId"] for s in snapshots_of(kept)[1].values()] == [k1, k2, k3]
        all4 = c.copy(amim, "m-k4", encrypted=True, key="alias/k4",
                      expect=["root: k1 → k4, re-encrypt", "sdf: k2 → k4, re-encrypt",
                              "sdg: k3 → k4, re-encrypt"], shot="copy-dialog")
        assert {s["KmsKeyId"] for s in snapshots_of(all4)[1].values()} == {k4}
        c.goto("amis")
        c.shot("copy-diagram")
        # DeleteSnapshot of an AMI's snapshot: InvalidSnapshot.InUse, shown as AWS says it.
        c.goto("snapshots")
        c.on_row(sm["/dev/sdf"]["SnapshotId"], "Delete")
        c.dialog_open()
        err = c.submit()
        assert err and err.startswith("InvalidSnapshot.InUse"), err
        c.cancel()
        c.shot("snapshots")
        # Volumes filtered by key: the ones under K2.
        c.goto("volumes")
        c.b.select("#volumes-f-key", "alias/k2")
        c.ready("volumes")
        time.sleep(0.5)
        c.ready("volumes")
        shown = c.b.js("return [...document.querySelectorAll('#volumes tbody tr')].map(r => r.dataset.id);")
        want = sorted(v["VolumeId"] for v in ec2.describe_volumes(
            Filters=[{"Name": "kms-key-id", "Values": [k2]}])["Volumes"])
        assert sorted(shown) == want and v2 in shown, (shown, want)
        c.shot("volumes")
        c.goto("keys")
        usage = c.b.js("return document.querySelector(`tr[data-id='${arguments[0]}']`).textContent;",
                       k1.split("/")[-1])
        assert se["/dev/xvda"]["SnapshotId"] in usage and root_vol in usage, usage
        c.shot("keys")
        errors = c.errors()
        assert not errors, errors
    finally:
        c.close()


def check_preview():
    """Every row of SEMANTICS.md §2 a copy can meet, from the copy dialogs' previews."""
    path, _ = disk_image("p.raw", 1, set(), 0)
    c = Console()
    try:
        plain = c.upload(path)[0]
        base = c.register("base", plain)
        c.create_key("k1")
        c.create_key("k2")
        ami_k1 = c.copy(base, "enc-k1", encrypted=True, key="alias/k1")
        snap_k1 = snapshots_of(ami_k1)[1]["/dev/xvda"]["SnapshotId"]
        # The Copy Snapshot dialog asks the engine the same way, for its one snapshot.
        dependency = "InvalidParameterDependency: The parameter KmsKeyId requires the parameter Encrypted to be set."
        for sid, enc, key, region, want in [
            (plain, False, None, REGION, "unencrypted → unencrypted, unencrypted"),
            (plain, False, "alias/k2", REGION, dependency),
            (plain, True, None, REGION, "unencrypted → aws/ebs (default), encrypt"),
            (plain, True, "alias/k2", REGION, "unencrypted → k2, encrypt"),
            (snap_k1, False, None, REGION, "k1 → k1, kept"),
            (snap_k1, True, "alias/k2", REGION, "k1 → k2, re-encrypt"),
            (snap_k1, False, None, "us-west-2", "k1 → aws/ebs (default), re-encrypt"),
        ]:
            c.goto("snapshots")
            c.on_row(sid, "Copy")
            c.dialog_open()
            if region != REGION:
                c.b.select("#csn-region", region)
            if enc:
                c.check("#csn-encrypted")
            if key:
                c.b.select("#csn-key", key)
            got = c.preview("csn-preview")
            assert got == [want], f"{sid} enc={enc} key={key} {region}: {got} != {want}"
            if (sid, key) == (snap_k1, "alias/k2"):
                # What the preview said is what the copy does.
                c.shot("copy-snapshot-dialog")
                new = re.search(r"snap-[0-9a-f]+", c.must_submit().split(" in ")[0]).group(0)
                ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[new], WaiterConfig={"Delay": 1})
                got = ec2.describe_snapshots(SnapshotIds=[new])["Snapshots"][0]
                assert got["KmsKeyId"] == arn_of("alias/k2"), got
            else:
                c.cancel()
        rows = [
            # (image, encrypted, key, destination region, expected line)
            (base, False, None, REGION, "root: unencrypted → unencrypted, unencrypted"),
            (base, False, "alias/k2", REGION, "InvalidParameterDependency: The parameter KmsKeyId requires the parameter Encrypted to be set."),
            (ami_k1, False, None, REGION, "root: k1 → k1, kept"),
            (ami_k1, False, "alias/k2", REGION, "InvalidParameterDependency: The parameter KmsKeyId requires the parameter Encrypted to be set."),
            # A source the copy may not keep the key of (another region here; a shared one
            # goes through the same row): the destination's default key.
            (ami_k1, False, None, "us-west-2", "root: k1 → aws/ebs (default), re-encrypt"),
            (base, True, None, REGION, "root: unencrypted → aws/ebs (default), encrypt"),
            (base, True, "alias/k2", REGION, "root: unencrypted → k2, encrypt"),
            (ami_k1, True, None, REGION, "root: k1 → k1, kept"),
            (ami_k1, True, "alias/k2", REGION, "root: k1 → k2, re-encrypt"),
            (ami_k1, True, None, "us-west-2", "root: k1 → aws/ebs (default), re-encrypt"),
        ]

        def run(rows):
            for image, enc, key, region, want in rows:
                c.open_copy(image)
                c.b.type("#copy-name", "preview")
                if region != REGION:
                    c.b.select("#copy-region", region)
                if enc:
                    c.check("#copy-encrypted")
                if key:
                    c.b.select("#copy-key", key)
                got = c.preview()
                assert got == [want], f"{image} enc={enc} key={key} {region}: {got} != {want}"
                c.cancel()

        run(rows)
        c.shot("copy-dialog-error")
        # A given key that is disabled (from the KMS keys page): the copy would fail, as AWS
        # fails it, later; the preview says so.
        c.goto("keys")
        c.on_row(arn_of("alias/k2").split("/")[-1], "Disable")
        c.dialog_open()
        c.must_submit()
        assert kms.describe_key(KeyId="alias/k2")["KeyMetadata"]["KeyState"] == "Disabled"
        c.open_copy(base)
        c.b.type("#copy-name", "disabled-key")
        c.check("#copy-encrypted")
        c.b.select("#copy-key", "alias/k2")
        got = c.preview()
        assert len(got) == 1 and got[0].startswith("root: unencrypted → k2, encrypt") and \
            "DisabledException" in got[0], got
        c.cancel()
        c.goto("keys")
        before = c.stamp()
        c.on_row(arn_of("alias/k2").split("/")[-1], "Enable")
        c.ready("keys", before)
        assert kms.describe_key(KeyId="alias/k2")["KeyMetadata"]["KeyState"] == "Enabled"

        # Encryption by default on (from the EBS encryption page): plain sources get the
        # default key, a key still needs Encrypted, an owned key is kept.
        c.goto("encryption")
        c.b.click("#ebd-toggle")
        c.b.wait("return document.getElementById('ebd-state')?.textContent === 'enabled';")
        assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
        c.shot("encryption")
        run([
            (base, False, None, REGION, "root: unencrypted → aws/ebs (default), encrypt"),
            (base, False, "alias/k2", REGION, "InvalidParameterDependency: The parameter KmsKeyId requires the parameter Encrypted to be set."),
            (ami_k1, False, None, REGION, "root: k1 → k1, kept"),
        ])
        # A default key set on the page: the preview names it.
        c.goto("encryption")
        c.b.select("#ebs-key", "alias/k2")
        c.button("//main", "Change default key")
        # The key picker lists alias/k2 too: wait for the page's own "Default key" line.
        c.b.wait("return document.getElementById('ebs-default')?.textContent.includes('alias/k2');")
        assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == arn_of("alias/k2")
        run([(base, False, None, REGION, "root: unencrypted → k2, encrypt")])
        # The preview is what the copy does: this copy lands on K2.
        ami = c.copy(base, "ebd-copy", expect=["root: unencrypted → k2, encrypt"])
        assert snapshots_of(ami)[1]["/dev/xvda"]["KmsKeyId"] == arn_of("alias/k2")
        # An explicit Encrypted=false is refused for an encrypted source, as the API refuses it.
        try:
            ec2.copy_image(SourceImageId=ami_k1, SourceRegion=REGION, Name="plain", Encrypted=False)
            raise AssertionError("Encrypted=false on an encrypted source was accepted")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidRequest"
        errors = c.errors()
        assert not errors, errors
    finally:
        c.close()


def check_pages():
    """Every page at 1280x800 and at phone width, by keyboard too; the token guards the calls;
    the principal picker lists the account's users."""
    # Without the token, no call answers: neither a missing nor a wrong one.
    for token in [None, "0" * 64]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Blockseal-Console-Token"] = token
        req = urllib.request.Request(API + "/console/call", method="POST", headers=headers,
                                     data=b'{"Operation": "DescribeImages", "Input": {}}')
        try:
            urllib.request.urlopen(req)
            raise AssertionError("a call without the token was answered")
        except urllib.error.HTTPError as e:
            assert e.code == 403, e.code
    c = Console()
    try:
        c.create_key("k1")
        # An encrypted upload, and an image of two snapshots registered from the AMIs page.
        path, data = disk_image("g.raw", 2, {0}, 0)
        plain = c.upload(path)[0]
        enc, flash = c.upload(path, encrypted=True, key="alias/k1")
        assert "1 of 2 blocks written" in flash, flash
        s = ec2.describe_snapshots(SnapshotIds=[enc])["Snapshots"][0]
        assert s["State"] == "completed" and s["KmsKeyId"] == arn_of("alias/k1"), s
        assert exported(enc, len(data))[0] == data
        base = c.register("base", plain, extra=[("/dev/sdf", enc)], from_amis=True)
        _, snaps = snapshots_of(base)
        assert {d: s["SnapshotId"] for d, s in snaps.items()} == \
            {"/dev/xvda": plain, "/dev/sdf": enc}, snaps
        amie = c.copy(base, "encrypted", encrypted=True, key="alias/k1")
        for page in ["amis", "instances", "volumes", "snapshots", "keys", "encryption"]:
            c.goto(page)
            c.shot(f"{page}-1280")
            # Every control has a name a screen reader reads.
            unlabelled = c.b.js(
                "return [...document.querySelectorAll('input, select')].filter(e =>"
                " !e.labels?.length && !e.getAttribute('aria-label') && !e.closest('label'))"
                ".map(e => e.id || e.outerHTML);")
            assert not unlabelled, (page, unlabelled)
        # The keyboard: Tab reaches the navigation and Enter opens a page.
        c.goto("amis")
        c.b.js("document.body.focus();")
        before = c.stamp()
        for _ in range(40):
            c.b.cmd("POST", "/actions", {"actions": [{"type": "key", "id": "k", "actions": [
                {"type": "keyDown", "value": "\ue004"}, {"type": "keyUp", "value": "\ue004"}]}]})
            if c.b.js("return document.activeElement?.dataset?.page;") == "keys":
                break
        c.b.cmd("POST", "/actions", {"actions": [{"type": "key", "id": "k", "actions": [
            {"type": "keyDown", "value": "\ue007"}, {"type": "keyUp", "value": "\ue007"}]}]})
        c.ready("keys", before)
        # Destructive actions ask first: cancelling a deregistration leaves the image.
        c.goto("amis")
        c.on_image(amie, "Deregister")
        c.cancel()
        assert ec2.describe_images(ImageIds=[amie])["Images"][0]["State"] == "available"
        # Phone width: no page scrolls sideways.
        c.b.set_size(390, 844)
        for page in ["amis", "instances", "volumes", "snapshots", "keys", "encryption"]:
            c.goto(page)
            wide = c.b.js("return document.documentElement.scrollWidth - window.innerWidth;")
            assert wide <= 1, (page, wide)
            c.shot(f"{page}-phone")
        c.b.set_size(1280, 800)
        # The principal picker: the account's users, from IAM; one without policies is refused.
        iam.create_user(UserName="alice")
        c.b.cmd("POST", "/refresh", {})
        c.ready()
        c.b.wait("const p = document.getElementById('principal');"
                 "return p.tagName === 'SELECT' && [...p.options].some(o => o.value === 'alice');",
                 what="alice in the principal picker")
        users = c.b.js("return [...document.getElementById('principal').options].map(o => o.value);")
        assert sorted(users) == ["admin", "alice"], users
        c.b.select("#principal", "alice")
        c.b.wait("return /^(AccessDeniedException|UnauthorizedOperation): /"
                 ".test(document.getElementById('flash').textContent);", what="alice refused")
        before = c.stamp()
        c.b.select("#principal", "admin")
        c.ready(None, before)
        c.goto("amis")
        c.on_image(amie, "Deregister")
        c.must_submit()
        try:
            ec2.describe_images(ImageIds=[amie])
            raise AssertionError(f"{amie} is still there after Deregister")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidAMIID.NotFound", e
        errors = c.errors()
        assert not errors, errors
    finally:
        c.close()


CHECKS = {"scenarios": check_scenarios, "preview": check_preview, "pages": check_pages}

if __name__ == "__main__":
    try:
        CHECKS[CHECK]()
    except (AssertionError, WebDriverError):
        raise
    print(f"console check {CHECK}: ok")
