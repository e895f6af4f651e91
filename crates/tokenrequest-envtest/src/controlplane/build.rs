//! Builds a real kube-apiserver, kube-controller-manager and etcd from Go modules into the cache directory
//! ([`cache_dir`]), and finds binaries to run (`--controlplane-bin DIR`, `KUBEBUILDER_ASSETS`, or the build output).
//!
//! The pinned version builds from the module committed in `crates/tokenrequest-envtest/controlplane/` (go.sum
//! included), compiled into this crate so an installed binary needs no clone. Any other version gets a module
//! generated from that release's own go.mod, exactly as the committed one was (see docs/CONTROLPLANE.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{Context, Error, Result};

/// The Kubernetes release the committed module in `controlplane/` pins.
pub const PINNED_K8S_VERSION: &str = "v1.37.1";

/// The committed module of the pinned release: `go.mod`, `go.sum` for kube-apiserver and for etcd.
const PINNED_MODULE: [(&str, &str); 4] = [
    ("go.mod", include_str!("../../controlplane/go.mod")),
    ("go.sum", include_str!("../../controlplane/go.sum")),
    ("etcd/go.mod", include_str!("../../controlplane/etcd/go.mod")),
    ("etcd/go.sum", include_str!("../../controlplane/etcd/go.sum")),
];

/// Where built control planes are kept: `$TOKENREQUEST_CONTROLPLANE_DIR`, else `$XDG_CACHE_HOME` (or
/// `~/.cache`) `/kube-tokenrequest/controlplane`. `cargo xtask` sets the first to the repository's
/// `target/controlplane`.
pub const CACHE_DIR_ENV: &str = "TOKENREQUEST_CONTROLPLANE_DIR";

/// The etcd release the committed module in `controlplane/etcd/` pins (envtest's pairing
/// for 1.37, and the version k8s.io/kubernetes v1.37.1 itself requires).
pub const PINNED_ETCD_VERSION: &str = "v3.7.0";

/// The executables of a control plane: kube-apiserver and etcd always, kube-controller-manager for a control
/// plane with controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kube-controller-manager` (it may not exist: only a control plane with controllers needs it).
    pub kube_controller_manager: PathBuf,
}

impl Binaries {
    /// `DIR/kube-apiserver`, `DIR/etcd` and `DIR/kube-controller-manager` (the envtest / `KUBEBUILDER_ASSETS`
    /// layout).
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            kube_apiserver: dir.join("kube-apiserver"),
            etcd: dir.join("etcd"),
            kube_controller_manager: dir.join("kube-controller-manager"),
        }
    }

    /// Whether kube-apiserver and etcd exist.
    pub fn exist(&self) -> bool {
        self.kube_apiserver.is_file() && self.etcd.is_file()
    }

    /// Whether kube-controller-manager exists too.
    pub fn have_controllers(&self) -> bool {
        self.exist() && self.kube_controller_manager.is_file()
    }

    /// Finds binaries: `explicit` (`--controlplane-bin DIR`) first, then `$KUBEBUILDER_ASSETS`,
    /// then `target/controlplane/<version>/`. Does not build.
    pub fn locate(explicit: Option<&Path>, version: &str) -> Result<Self> {
        if let Some(dir) = explicit {
            let bins = Self::in_dir(dir);
            if !bins.exist() {
                fail!(
                    "--controlplane-bin {}: expected kube-apiserver and etcd in it",
                    dir.display()
                );
            }
            return Ok(bins);
        }
        if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS").filter(|d| !d.is_empty()) {
            let bins = Self::in_dir(Path::new(&dir));
            if !bins.exist() {
                fail!(
                    "KUBEBUILDER_ASSETS={}: expected kube-apiserver and etcd in it",
                    Path::new(&dir).display()
                );
            }
            return Ok(bins);
        }
        let version = normalize_version(version)?;
        let bins = Self::in_dir(&cache_dir(&version));
        if !bins.exist() {
            fail!(
                "no control plane binaries in {}: run `kube-tokenrequest controlplane build --k8s-version {version}`, \
                 or pass --controlplane-bin DIR / set KUBEBUILDER_ASSETS",
                cache_dir(&version).display()
            );
        }
        Ok(bins)
    }
}

/// `<cache>/<version>`: where the binaries of `version` are built and looked for (see [`CACHE_DIR_ENV`]).
pub fn cache_dir(version: &str) -> PathBuf {
    let root = match std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("kube-tokenrequest/controlplane"),
    };
    root.join(version)
}

/// `1.37.1` or `v1.37.1` → `v1.37.1`; anything else is an error.
pub fn normalize_version(version: &str) -> Result<String> {
    let bare = version.strip_prefix('v').unwrap_or(version);
    let parts: Vec<&str> = bare.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        || parts[0] != "1"
    {
        fail!("unsupported Kubernetes version {version:?}: expected v1.MINOR.PATCH, e.g. {PINNED_K8S_VERSION}");
    }
    Ok(format!("v{bare}"))
}

/// Builds kube-apiserver, etcd and kube-controller-manager for `version` into [`cache_dir`], each unless it is
/// there already, telling `progress` each step and its time. Needs `go` (1.26+) and the Go module proxy on a cold
/// cache.
pub fn build(version: &str, progress: &mut dyn FnMut(&str)) -> Result<Binaries> {
    let version = normalize_version(version)?;
    let out = cache_dir(&version);
    let bins = Binaries::in_dir(&out);
    if bins.have_controllers() {
        progress(&format!(
            "kube-apiserver, etcd and kube-controller-manager {version} already built in {}",
            out.display()
        ));
        return Ok(bins);
    }
    let go = go_version()?;
    progress(&format!("using {go}"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let src = out.join("src");
    let (kube_module, etcd_module) = if version == PINNED_K8S_VERSION {
        for (name, text) in PINNED_MODULE {
            let path = src.join(name);
            std::fs::create_dir_all(path.parent().unwrap_or(&src))?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        (src.clone(), src.join("etcd"))
    } else {
        generate_modules(&version, &src, progress)?
    };

    let started = Instant::now();
    progress(&format!(
        "downloading Go modules for kubernetes {version} and etcd (cold: a few hundred MB)"
    ));
    for dir in [&kube_module, &etcd_module] {
        go_quiet(dir, &["mod", "download"]).map_err(proxy_hint)?;
    }
    progress(&format!("modules ready after {}", secs(started)));

    let ldflags = ldflags(&version)?;
    let kube = [
        ("kube-apiserver", &bins.kube_apiserver, "~10+ minutes"),
        (
            "kube-controller-manager",
            &bins.kube_controller_manager,
            "~5 more minutes",
        ),
    ];
    for (name, path, cold) in kube {
        if path.is_file() {
            continue;
        }
        let t = Instant::now();
        progress(&format!("compiling {name} (cold: {cold} on 2 cores; cached: seconds)"));
        go_build(&kube_module, &ldflags, &format!("k8s.io/kubernetes/cmd/{name}"), path)?;
        progress(&format!("{name} built in {}", secs(t)));
    }
    if !bins.etcd.is_file() {
        let t = Instant::now();
        progress("compiling etcd");
        go_build(&etcd_module, "-s -w", "go.etcd.io/etcd/server/v3", &bins.etcd)?;
        progress(&format!("etcd built in {}", secs(t)));
    }
    progress(&format!(
        "control plane {version} ready in {} ({} total)",
        out.display(),
        secs(started)
    ));
    Ok(bins)
}

fn secs(since: Instant) -> String {
    format!("{:.0}s", since.elapsed().as_secs_f64())
}

/// The `-ldflags` that make `/version` report `version` instead of `v0.0.0-master`.
pub(crate) fn ldflags(version: &str) -> Result<String> {
    let bare = version.trim_start_matches('v');
    let mut parts = bare.split('.');
    let (major, minor) = (parts.next().unwrap_or("1"), parts.next().unwrap_or("0"));
    let mut flags = String::from("-s -w");
    for pkg in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
        for (var, value) in [
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            // Fixed, so two builds of one version are byte-identical.
            ("buildDate", "1970-01-01T00:00:00Z"),
        ] {
            flags.push_str(&format!(" -X {pkg}.{var}={value}"));
        }
    }
    Ok(flags)
}

/// `go version`, or one clear error when `go` is missing.
fn go_version() -> Result<String> {
    let out = match Command::new("go").arg("version").output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail!(
            "`go` is not on PATH: install Go 1.26 or newer to build kube-apiserver, \
             or pass --controlplane-bin DIR / set KUBEBUILDER_ASSETS to prebuilt binaries"
        ),
        Err(e) => return Err(e).context("running `go version`"),
    };
    if !out.status.success() {
        fail!(
            "`go version` failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A `go` command with our environment: no cgo, no automatic toolchain download, niced so a
/// parallel Rust build keeps some CPU.
fn go_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = if Command::new("nice").arg("true").output().is_ok() {
        let mut c = Command::new("nice");
        c.args(["-n", "10", "go"]);
        c
    } else {
        Command::new("go")
    };
    cmd.args(args)
        .current_dir(dir)
        .env("CGO_ENABLED", "0")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off");
    cmd
}

/// Runs a `go` command, capturing its output; the error is its last stderr lines.
fn go_quiet(dir: &Path, args: &[&str]) -> Result<()> {
    let out = go_command(dir, args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running go {}", args.join(" ")))?;
    if !out.status.success() {
        fail!(
            "`go {}` in {} failed: {}",
            args.join(" "),
            dir.display(),
            last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(())
}

fn go_build(module: &Path, ldflags: &str, package: &str, out: &Path) -> Result<()> {
    let tmp = out.with_extension("partial");
    let tmp_s = tmp.display().to_string();
    go_quiet(
        module,
        &["build", "-trimpath", "-ldflags", ldflags, "-o", &tmp_s, package],
    )?;
    std::fs::rename(&tmp, out).with_context(|| format!("moving {tmp_s} to {}", out.display()))
}

/// Turns a module download failure into one line that names the likely cause.
fn proxy_hint(e: Error) -> Error {
    let proxy = Command::new("go")
        .args(["env", "GOPROXY"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "https://proxy.golang.org,direct".into());
    if proxy == "off" {
        format_err!("could not download Go modules (GOPROXY=off forbids it): {e}")
    } else {
        format_err!("could not download Go modules (is the Go module proxy reachable? GOPROXY={proxy}): {e}")
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
        .to_string()
}

/// What a release's own go.mod tells us.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReleaseGoMod {
    /// The `go` line, e.g. `go 1.26.0`.
    pub go_line: String,
    /// `godebug` lines, verbatim.
    pub godebug_lines: Vec<String>,
    /// Every module replaced by `./staging/...`.
    pub staging: Vec<String>,
    /// The `go.etcd.io/etcd/server/v3` version it requires, if any.
    pub etcd_server: Option<String>,
}

/// Parses `k8s.io/kubernetes`'s go.mod.
pub(crate) fn parse_release_go_mod(text: &str) -> Result<ReleaseGoMod> {
    let mut go_line = None;
    let mut godebug_lines = Vec::new();
    let mut staging = Vec::new();
    let mut etcd_server = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("go ") {
            go_line = Some(t.to_string());
        } else if t.starts_with("godebug ") {
            godebug_lines.push(t.to_string());
        } else if let Some((module, target)) = t.split_once("=>") {
            if target.trim().starts_with("./staging/") {
                staging.push(module.trim().to_string());
            }
        } else if let Some(rest) = t.strip_prefix("go.etcd.io/etcd/server/v3 ") {
            etcd_server = rest.split_whitespace().next().map(str::to_string);
        }
    }
    let go_line = go_line.context("the release's go.mod has no `go` line")?;
    if staging.is_empty() {
        fail!("the release's go.mod names no ./staging modules");
    }
    Ok(ReleaseGoMod {
        go_line,
        godebug_lines,
        staging,
        etcd_server,
    })
}

/// Our go.mod for `version`, from the release's own go.mod.
pub(crate) fn render_kube_go_mod(version: &str, release: &ReleaseGoMod) -> String {
    let minor = version.trim_start_matches("v1.");
    let mut s = format!(
        "// Generated by `cargo xtask controlplane build` from k8s.io/kubernetes {version}'s go.mod.\n\
         module github.com/kube-tokenrequest/kube-tokenrequest/xtask/controlplane\n\n{}\n\n",
        release.go_line
    );
    for line in &release.godebug_lines {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(&format!(
        "\ntool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kube-controller-manager\n)\n\n\
         require k8s.io/kubernetes {version}\n\nreplace (\n"
    ));
    for module in &release.staging {
        s.push_str(&format!("\t{module} => {module} v0.{minor}\n"));
    }
    s.push_str(")\n");
    s
}

/// The etcd module's go.mod.
pub(crate) fn render_etcd_go_mod(go_line: &str, etcd_version: &str) -> String {
    format!(
        "// Generated by `cargo xtask controlplane build`.\n\
         module github.com/kube-tokenrequest/kube-tokenrequest/xtask/controlplane/etcd\n\n\
         {go_line}\n\ntool go.etcd.io/etcd/server/v3\n\nrequire go.etcd.io/etcd/server/v3 {etcd_version}\n"
    )
}

/// Writes both modules for a version other than the pinned one under `dir` and tidies them.
fn generate_modules(version: &str, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<(PathBuf, PathBuf)> {
    let etcd_dir = dir.join("etcd");
    std::fs::create_dir_all(&etcd_dir)?;
    progress(&format!(
        "generating a Go module for kubernetes {version} in {}",
        dir.display()
    ));
    let out = go_command(
        dir,
        &["mod", "download", "-json", &format!("k8s.io/kubernetes@{version}")],
    )
    .env("GOFLAGS", "-mod=mod")
    .stdin(Stdio::null())
    .output()
    .context("running go mod download")?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() || info.get("Error").is_some() {
        let why = info["Error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| last_line(&String::from_utf8_lossy(&out.stderr)));
        return Err(proxy_hint(Error::Failed(why)));
    }
    let go_mod_path = info["GoMod"]
        .as_str()
        .context("go mod download -json printed no GoMod")?;
    let release = parse_release_go_mod(&std::fs::read_to_string(go_mod_path)?)?;
    let etcd_version = release
        .etcd_server
        .clone()
        .unwrap_or_else(|| PINNED_ETCD_VERSION.to_string());
    std::fs::write(dir.join("go.mod"), render_kube_go_mod(version, &release))?;
    std::fs::write(
        etcd_dir.join("go.mod"),
        render_etcd_go_mod(&release.go_line, &etcd_version),
    )?;
    for d in [dir, &etcd_dir] {
        go_quiet(d, &["mod", "tidy"]).map_err(proxy_hint)?;
    }
    Ok((dir.to_path_buf(), etcd_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(normalize_version("1.37.1").unwrap(), "v1.37.1");
        assert_eq!(normalize_version("v1.36.4").unwrap(), "v1.36.4");
        for bad in ["1.37", "v1.37.1-rc.0", "2.0.0", "", "v1..1", "../x"] {
            assert!(normalize_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ldflags_set_both_version_packages() {
        let f = ldflags("v1.37.1").unwrap();
        assert!(f.contains("-X k8s.io/component-base/version.gitVersion=v1.37.1"));
        assert!(f.contains("-X k8s.io/client-go/pkg/version.gitMinor=37"));
    }

    const RELEASE: &str = "module k8s.io/kubernetes\n\ngo 1.26.0\n\ngodebug default=go1.26\n\n\
        require (\n\tgo.etcd.io/etcd/server/v3 v3.7.0 // indirect\n\tk8s.io/api v0.0.0\n)\n\n\
        replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/streaming => ./staging/src/k8s.io/streaming\n)\n";

    #[test]
    fn parses_a_release_go_mod() {
        let r = parse_release_go_mod(RELEASE).unwrap();
        assert_eq!(r.go_line, "go 1.26.0");
        assert_eq!(r.godebug_lines, ["godebug default=go1.26"]);
        assert_eq!(r.staging, ["k8s.io/api", "k8s.io/streaming"]);
        assert_eq!(r.etcd_server.as_deref(), Some("v3.7.0"));
    }

    #[test]
    fn renders_go_mods() {
        let r = parse_release_go_mod(RELEASE).unwrap();
        insta::assert_snapshot!(render_kube_go_mod("v1.36.4", &r));
        insta::assert_snapshot!(render_etcd_go_mod(&r.go_line, "v3.6.8"));
    }

    #[test]
    fn the_committed_module_matches_the_pin() {
        let kube = PINNED_MODULE[0].1;
        let pinned = format!("k8s.io/kubernetes {PINNED_K8S_VERSION}");
        assert!(
            kube.lines()
                .filter_map(|l| l.split("//").next())
                .any(|l| l.trim().trim_start_matches("require ").trim() == pinned)
        );
        // Every staging module is replaced by its v0.Y.Z twin (33 of them in 1.37).
        let twin = format!(" v0.{}", PINNED_K8S_VERSION.trim_start_matches("v1."));
        let replaced = kube
            .lines()
            .filter(|l| l.contains(" => ") && l.ends_with(&twin))
            .count();
        assert_eq!(replaced, 33);
        let etcd = PINNED_MODULE[2].1;
        assert!(etcd.contains(&format!("go.etcd.io/etcd/server/v3 {PINNED_ETCD_VERSION}")));
    }
}
