use super::*;
use crate::sockaddr::service_from_port;
use crate::{HvAddr, VmId};
use uuid::Uuid;

fn parse_ok(uri: &str) -> Addr {
    uri.parse().unwrap_or_else(|e| panic!("{uri} should parse: {e}"))
}

fn reason(uri: &str) -> Reason {
    match uri.parse::<Addr>() {
        Ok(addr) => panic!("{uri} should be rejected, parsed as {addr:?}"),
        Err(err) => {
            assert_eq!(err.uri, uri);
            assert!(err.to_string().contains(&format!("`{uri}`")), "message names the URI: {err}");
            err.reason
        }
    }
}

fn guid(text: &str) -> Uuid {
    text.parse().unwrap()
}

#[test]
fn vsock_forms() {
    assert_eq!(parse_ok("vsock://:80"), Addr::Vsock(VsockAddr::new(VsockAddr::CID_ANY, 80)));
    assert_eq!(parse_ok("vsock://2:80/"), Addr::Vsock(VsockAddr::new(2, 80)));
    assert_eq!(parse_ok("VSOCK://3:0"), Addr::Vsock(VsockAddr::new(3, 0)));
    assert_eq!(parse_ok("vsock://host:1024"), Addr::Vsock(VsockAddr::new(2, 1024)));
    assert_eq!(parse_ok("vsock://Local:5"), Addr::Vsock(VsockAddr::new(1, 5)));
    assert_eq!(parse_ok("vsock://hypervisor:5"), Addr::Vsock(VsockAddr::new(0, 5)));
    assert_eq!(parse_ok("vsock://any:5"), Addr::Vsock(VsockAddr::new(u32::MAX, 5)));
    assert_eq!(
        parse_ok("vsock://4294967295:4294967295"),
        Addr::Vsock(VsockAddr::new(u32::MAX, VsockAddr::PORT_ANY))
    );
}

#[test]
fn hvsock_forms() {
    let svc = guid("3049197C-9A4E-4FBF-9367-97F792F16994");
    let vm = guid("5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab");
    assert_eq!(
        parse_ok("hvsock://5F5F9C2E-0A4B-4C1D-9E8F-0123456789AB/3049197C-9A4E-4FBF-9367-97F792F16994"),
        Addr::HyperV(HvAddr::new(VmId::Guid(vm), svc))
    );
    assert_eq!(
        parse_ok("hvsock:///3049197C-9A4E-4FBF-9367-97F792F16994"),
        Addr::HyperV(HvAddr::new(VmId::WILDCARD, svc))
    );
    assert_eq!(
        parse_ok("hvsock://{5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab}/{3049197c-9a4e-4fbf-9367-97f792f16994}/"),
        Addr::HyperV(HvAddr::new(VmId::Guid(vm), svc))
    );
    assert_eq!(
        parse_ok("hvsock://parent/80"),
        Addr::HyperV(HvAddr::new(VmId::PARENT, service_from_port(80)))
    );
    assert_eq!(
        parse_ok("hvsock://MobyLinuxVM/000000ff-FACB-11E6-BD58-64006A7986D3"),
        Addr::HyperV(HvAddr::new(VmId::Name("MobyLinuxVM".into()), service_from_port(255)))
    );
    assert_eq!(
        parse_ok("hvsock://My%20VM/1"),
        Addr::HyperV(HvAddr::new(VmId::Name("My VM".into()), service_from_port(1)))
    );
    for (word, id) in [
        ("wildcard", VmId::WILDCARD),
        ("broadcast", VmId::BROADCAST),
        ("children", VmId::CHILDREN),
        ("Loopback", VmId::LOOPBACK),
        ("silohost", VmId::SILOHOST),
    ] {
        assert_eq!(
            parse_ok(&format!("hvsock://{word}/7")),
            Addr::HyperV(HvAddr::new(id, service_from_port(7)))
        );
    }
}

#[test]
fn hvsock_with_a_path_and_port_is_kata_hybrid() {
    assert_eq!(
        parse_ok("hvsock:///run/vc/firecracker/abc/root/kata.hvsock:1024"),
        Addr::Hybrid(HybridAddr::new("/run/vc/firecracker/abc/root/kata.hvsock", 1024))
    );
    assert_eq!(parse_ok("hvsock:///kata.hvsock:1"), Addr::Hybrid(HybridAddr::new("/kata.hvsock", 1)));
}

#[test]
fn hyperkit_forms() {
    assert_eq!(
        parse_ok("hyperkit://:80/Users/foo/Library/Containers/com.docker.docker/Data/vms/0"),
        Addr::Hyperkit(HyperkitAddr::new("/Users/foo/Library/Containers/com.docker.docker/Data/vms/0", 80))
    );
    assert_eq!(parse_ok("hyperkit://:80/./vms/0"), Addr::Hyperkit(HyperkitAddr::new("./vms/0", 80)));
    assert_eq!(parse_ok("hyperkit://:80/../vms"), Addr::Hyperkit(HyperkitAddr::new("../vms", 80)));
    // A hidden directory stays absolute (ocaml-hvsock made it relative).
    assert_eq!(parse_ok("hyperkit://:80/.hidden/x"), Addr::Hyperkit(HyperkitAddr::new("/.hidden/x", 80)));
    assert_eq!(
        parse_ok("hyperkit://7:80/tmp/a%20b"),
        Addr::Hyperkit(HyperkitAddr { dir: "/tmp/a b".into(), port: 80, guest_cid: 7 })
    );
}

#[test]
fn hybrid_unix_tcp_forms() {
    assert_eq!(parse_ok("hybrid://:52/tmp/v.sock"), Addr::Hybrid(HybridAddr::new("/tmp/v.sock", 52)));
    assert_eq!(parse_ok("hybrid://:52/./v.sock"), Addr::Hybrid(HybridAddr::new("./v.sock", 52)));
    assert_eq!(parse_ok("unix:///tmp/s"), Addr::Unix("/tmp/s".into()));
    assert_eq!(parse_ok("unix://./rel/s"), Addr::Unix("./rel/s".into()));
    assert_eq!(parse_ok("unix://../up/s"), Addr::Unix("../up/s".into()));
    let tcp = |host: &str, port| Addr::Tcp(TcpAddr { host: host.into(), port });
    assert_eq!(parse_ok("tcp://127.0.0.1:8080"), tcp("127.0.0.1", 8080));
    assert_eq!(parse_ok("tcp://localhost:1/"), tcp("localhost", 1));
    assert_eq!(parse_ok("tcp://[::1]:65535"), tcp("::1", 65535));
}

#[test]
fn display_round_trips() {
    for uri in [
        "vsock://:80",
        "vsock://2:80/",
        "vsock://host:80",
        "hvsock://parent/80",
        "hvsock:///3049197C-9A4E-4FBF-9367-97F792F16994",
        "hvsock://My%20VM%2Fx/1",
        "hvsock://5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab/1",
        "hvsock:///run/kata.hvsock:1024",
        "hyperkit://:80/./rel",
        "hyperkit://:80/../rel",
        "hyperkit://9:80/abs/dir%3Fq",
        "hybrid://:1/a%20b/c%25d",
        "unix:///tmp/x",
        "unix://./x",
        "unix://../x",
        "tcp://[::1]:22",
        "tcp://example.org:22",
        "hvsock://%70arent/1",
        "hvsock://%35f5f9c2e-0a4b-4c1d-9e8f-0123456789ab/1",
        "hyperkit://:1/%2E/x",
        "hyperkit://:8/..",
        "hyperkit://:8/.",
        "hyperkit://:1/%2E%2E/x",
        "hybrid://:1/%2Ex",
        "unix:///%2E%2Ex",
        "unix://./%2E%2E/x",
    ] {
        let addr = parse_ok(uri);
        let shown = addr.to_string();
        assert_eq!(parse_ok(&shown), addr, "{uri} -> {shown}");
    }
}

/// linuxkit/virtsock's forms: `hvsock://VM:GUID` is accepted; the short ones, whose port
/// or service virtsock's tools fill in, are refused with the full form to write.
#[test]
fn virtsock_forms() {
    let svc = guid(VIRTSOCK_SERVICE);
    let vm = guid("5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab");
    for (uri, vm) in [
        ("hvsock://parent:3049197C-FACB-11E6-BD58-64006A7986D3", VmId::PARENT),
        (
            "hvsock://5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab:{3049197c-facb-11e6-bd58-64006a7986d3}/",
            VmId::Guid(vm),
        ),
        ("hvsock://:3049197c-facb-11e6-bd58-64006a7986d3", VmId::WILDCARD),
    ] {
        assert_eq!(parse_ok(uri), Addr::HyperV(HvAddr::new(vm, svc)), "{uri}");
    }
    assert_eq!(
        parse_ok("hvsock://parent:3049197c-facb-11e6-bd58-64006a7986d3").to_string(),
        format!("hvsock://parent/{VIRTSOCK_SERVICE}")
    );

    let short = |what: &'static str, full: &str, virtsock: &str| Reason::ShortForm {
        what,
        full: full.into(),
        virtsock: virtsock.into(),
    };
    let vsock_full = "vsock://:PORT to listen or vsock://CID:PORT to connect";
    for (uri, expected) in [
        ("vsock", short("address", vsock_full, "vsock://:22099")),
        ("VSOCK", short("address", vsock_full, "vsock://:22099")),
        ("hvsock", short("address", "hvsock://VM/SERVICE", &format!("hvsock:///{VIRTSOCK_SERVICE}"))),
        ("vsock://2", short("port", "vsock://2:PORT", "vsock://2:22099")),
        ("vsock://host/", short("port", "vsock://host:PORT", "vsock://host:22099")),
        (
            "hvsock://parent",
            short("service", "hvsock://parent/SERVICE", &format!("hvsock://parent/{VIRTSOCK_SERVICE}")),
        ),
        (
            "hvsock://parent/",
            short("service", "hvsock://parent/SERVICE", &format!("hvsock://parent/{VIRTSOCK_SERVICE}")),
        ),
        (
            "hvsock://5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab",
            short(
                "service",
                "hvsock://5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab/SERVICE",
                &format!("hvsock://5f5f9c2e-0a4b-4c1d-9e8f-0123456789ab/{VIRTSOCK_SERVICE}"),
            ),
        ),
        ("vsock://guest", Reason::BadCid("guest".into())),
        ("hvsock://parent:3049197c-facb-11e6-bd58-64006a7986d3/x", Reason::UnexpectedPath("/x".into())),
    ] {
        assert_eq!(reason(uri), expected, "{uri}");
    }
    let message = "vsock://2".parse::<Addr>().unwrap_err().to_string();
    assert_eq!(message, "invalid address `vsock://2`: missing port: write vsock://2:PORT (linuxkit/virtsock's tools fill in their own: vsock://2:22099)");
}

#[test]
fn rejected_forms_name_the_problem() {
    use Reason::*;
    let port = |t: &str| BadPort { text: t.into(), max: u32::MAX };
    let cases: Vec<(&str, Reason)> = vec![
        ("", Empty),
        ("vsock:80", MissingScheme),
        ("://80", MissingScheme),
        ("vsocks://:80", UnknownScheme("vsocks".into())),
        ("http://x:1", UnknownScheme("http".into())),
        ("vsock://", MissingPort(VSOCK_FORM)),
        ("vsock://2:", MissingPort(VSOCK_FORM)),
        ("vsock://:4294967296", port("4294967296")),
        ("vsock://:-1", port("-1")),
        ("vsock://:0x50", port("0x50")),
        ("vsock://:+5", port("+5")),
        ("vsock://:8_0", port("8_0")),
        ("vsock://: 80", port(" 80")),
        ("vsock://guest:80", BadCid("guest".into())),
        ("vsock://-1:80", BadCid("-1".into())),
        ("vsock://4294967296:80", BadCid("4294967296".into())),
        ("vsock://2:80/x", UnexpectedPath("/x".into())),
        ("vsock://2:80//", UnexpectedPath("//".into())),
        ("vsock://:80?x", QueryOrFragment('?')),
        ("vsock://:80#x", QueryOrFragment('#')),
        ("hvsock:///", MissingService),
        ("hvsock://2:80/", PortAfterVm(" (for a Linux CID, write vsock://CID:PORT)")),
        ("hvsock://vm:80/1", PortAfterVm("")),
        ("hvsock://parent/not-a-guid", BadService("not-a-guid".into())),
        ("hvsock://parent/4294967296", BadService("4294967296".into())),
        (
            "hvsock://parent/3049197C-9A4E-4FBF-9367-97F792F1699",
            BadGuid("3049197C-9A4E-4FBF-9367-97F792F1699".into()),
        ),
        (
            "hvsock://parent/3049197G-9A4E-4FBF-9367-97F792F16994",
            BadGuid("3049197G-9A4E-4FBF-9367-97F792F16994".into()),
        ),
        (
            "hvsock://5F5F9C2E-0A4B-4C1D-9E8F-0123456789AX/1",
            BadGuid("5F5F9C2E-0A4B-4C1D-9E8F-0123456789AX".into()),
        ),
        ("hvsock://a%0Ab/1", BadVmName("a\nb".into(), "it contains a control character")),
        ("hvsock://a%zz/1", BadEscape("a%zz".into())),
        ("hvsock://a%C3/1", BadEscape("a%C3".into())),
        ("hvsock://a%4/1", BadEscape("a%4".into())),
        ("hvsock:///run/kata.hvsock:99999999999", port("99999999999")),
        ("hyperkit://:80", MissingPath(HYPERKIT_FORM)),
        ("hyperkit://:80/", MissingPath(HYPERKIT_FORM)),
        ("hyperkit:///dir", MissingPort(HYPERKIT_FORM)),
        ("hyperkit://x:80/dir", BadCid("x".into())),
        ("hybrid://:52", MissingPath(HYBRID_FORM)),
        ("hybrid:///tmp/v.sock", MissingPort(HYBRID_FORM)),
        ("hybrid://:/tmp/v.sock", MissingPort(HYBRID_FORM)),
        ("hybrid://3:52/tmp/v.sock", UnexpectedHost { host: "3".into(), hint: HYBRID_FORM }),
        ("hybrid://:99999999999/tmp/v.sock", port("99999999999")),
        ("unix://", MissingPath(UNIX_FORM)),
        ("unix:///", MissingPath(UNIX_FORM)),
        ("unix://./", MissingPath(UNIX_FORM)),
        ("unix:///./", MissingPath(UNIX_FORM)),
        ("unix:///tmp/", MissingPath(UNIX_FORM)),
        ("unix://./..", MissingPath(UNIX_FORM)),
        ("hybrid://:1/./", MissingPath(HYBRID_FORM)),
        ("hybrid://:1/tmp/", MissingPath(HYBRID_FORM)),
        ("hybrid://:1/%2E", MissingPath(HYBRID_FORM)),
        ("unix://host/tmp/x", UnexpectedHost { host: "host".into(), hint: UNIX_FORM }),
        ("tcp://:80", MissingHost),
        ("tcp://localhost", MissingPort(TCP_FORM)),
        ("tcp://localhost:", MissingPort(TCP_FORM)),
        ("tcp://localhost:65536", BadPort { text: "65536".into(), max: 65535 }),
        ("tcp://localhost:80/x", UnexpectedPath("/x".into())),
        ("tcp://[zz]:80", UnexpectedHost { host: "[zz]".into(), hint: TCP_FORM }),
        ("tcp://a%3Ab:80", UnexpectedHost { host: "a%3Ab".into(), hint: TCP_FORM }),
        ("unix:///tmp/a%00b", Nul("/tmp/a%00b".into())),
        ("unix://./a%00", Nul("./a%00".into())),
        ("unix:///tmp/a\0b", Nul("/tmp/a\0b".into())),
        ("hybrid://:1/tmp/v%00.sock", Nul("/tmp/v%00.sock".into())),
        ("hyperkit://:1/dir%00", Nul("/dir%00".into())),
        ("hvsock:///run/k%00.hvsock:1024", Nul("/run/k%00.hvsock".into())),
        ("hvsock://a%00b/1", Nul("a%00b".into())),
        ("tcp://host%00x:80", Nul("host%00x".into())),
        ("tcp://host\0x:80", Nul("host\0x".into())),
    ];
    assert!(cases.len() >= 50);
    for (uri, want) in cases {
        assert_eq!(reason(uri), want, "{uri}");
    }
}

#[test]
fn percent_codec_round_trips() {
    for text in ["plain", "a b", "100%", "q?#", "ünï/cödé", "tab\there"] {
        assert_eq!(percent_decode(&percent_encode(text, false)).unwrap(), text);
        assert_eq!(percent_decode(&percent_encode(text, true)).unwrap(), text);
    }
    assert_eq!(percent_encode("a/b:c", false), "a%2Fb%3Ac");
    assert_eq!(percent_encode("a/b:c", true), "a/b:c");
}

#[test]
fn messages_show_control_characters_escaped() {
    let err = "hvsock://a%0Ab/1".parse::<Addr>().unwrap_err();
    assert_eq!(err.reason, Reason::BadVmName("a\nb".into(), "it contains a control character"));
    assert!(
        err.to_string().ends_with("VM name `a\\nb` is not valid: it contains a control character"),
        "{err}"
    );
    let err = "unix:///tmp/a\0b".parse::<Addr>().unwrap_err();
    assert!(!err.reason.to_string().contains('\0'), "{err}");
    assert_eq!(
        err.reason.to_string(),
        "NUL (%00) in `/tmp/a\\0b`: a path, VM name or host name cannot contain one"
    );
}
