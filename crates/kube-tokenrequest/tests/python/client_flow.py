"""The official Kubernetes Python client against a cluster, unchanged: namespaces, service accounts, a token for
an audience and its TokenReview, a PATCH, a watch, a Secret's stringData, and a namespace delete.

Usage: client_flow.py KUBECONFIG NAMESPACE. Prints one line per step and "ok" at the end; never a token.
"""

import base64
import sys

from kubernetes import client, config, watch


def main(kubeconfig: str, ns: str) -> None:
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    auth = client.AuthenticationV1Api()
    meta = client.V1ObjectMeta

    core.create_namespace(client.V1Namespace(metadata=meta(name=ns)))
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=meta(name="py")))
    print("created namespace and service account")

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["vault"], expiration_seconds=3600)
    )
    issued = core.create_namespaced_service_account_token("py", ns, request)
    assert issued.spec.audiences == ["vault"], issued.spec.audiences
    assert issued.spec.expiration_seconds == 3600, issued.spec.expiration_seconds
    token = issued.status.token
    print("token issued for audience vault")

    review = auth.create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=["vault"]))
    )
    assert review.status.authenticated, review.status.error
    assert review.status.user.username == f"system:serviceaccount:{ns}:py", review.status.user.username
    assert review.status.audiences == ["vault"], review.status.audiences
    print("token reviewed: authenticated as the service account")

    patched = core.patch_namespaced_service_account("py", ns, {"metadata": {"labels": {"team": "a"}}})
    assert patched.metadata.labels == {"team": "a"}, patched.metadata.labels
    print("service account patched")

    listed = core.list_namespaced_service_account(ns)
    events = []
    stream = watch.Watch().stream(
        core.list_namespaced_service_account,
        ns,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=2,
    )
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=meta(name="watched")))
    for event in stream:
        events.append((event["type"], event["object"].metadata.name))
    assert ("ADDED", "watched") in events, events
    print("watch saw the new service account")

    core.create_namespaced_secret(ns, client.V1Secret(metadata=meta(name="creds"), string_data={"k": "v"}))
    secret = core.read_namespaced_secret("creds", ns)
    assert base64.b64decode(secret.data["k"]) == b"v", secret.data
    assert secret.string_data is None
    print("secret stringData stored as data")

    core.delete_namespace(ns)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
