"""Amazon ECR through the AWS endpoint with plain boto3 (credentials and endpoint from the
environment `trainyard aws env` printed) and skopeo logging in with GetAuthorizationToken's
password, as `docker login --username AWS` does: repositories and images created, described,
listed, fetched and deleted, immutable tags, the not-found codes, and what a user without
ECR permissions and a pull-only user may do. Prints one JSON object."""
import base64
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

import boto3
from common import code

host, outsider_key, outsider_secret, puller_key, puller_secret = sys.argv[1:6]
results = {}
ecr = boto3.client("ecr")
work = tempfile.mkdtemp()


def skopeo(*args):
    """Whether skopeo succeeded."""
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        results.setdefault("skopeo_errors", []).append(done.stderr[-400:])
    return done.returncode == 0


def password_of(client):
    data = client.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return user, password, data


def login(password, name):
    authfile = os.path.join(work, name + ".json")
    ok = skopeo("login", "--tls-verify=false", "--authfile", authfile, "-u", "AWS", "-p", password, host)
    return ok, authfile


def copy(authfile, source, destination):
    return skopeo("copy", "--authfile", authfile, "--src-tls-verify=false", "--dest-tls-verify=false",
                  source, destination)


# Repositories.
created = ecr.create_repository(repositoryName="boto/app")["repository"]
results["repository_arn"] = created["repositoryArn"]
results["repository_uri"] = created["repositoryUri"]
results["mutability"] = created["imageTagMutability"]
results["duplicate"] = code(lambda: ecr.create_repository(repositoryName="boto/app"))
results["described"] = [r["repositoryName"] for r in
                        ecr.describe_repositories(repositoryNames=["boto/app"])["repositories"]]
results["all_repositories"] = sorted(r["repositoryName"] for r in ecr.describe_repositories()["repositories"])
results["missing_repository"] = code(lambda: ecr.describe_repositories(repositoryNames=["no/such"]))
results["missing_repository_images"] = code(lambda: ecr.list_images(repositoryName="no/such"))

# The login password: docker's (here skopeo's) `--username AWS`.
user, password, data = password_of(ecr)
results["user"] = user
results["proxy_endpoint"] = data["proxyEndpoint"]
results["hours_valid"] = round((data["expiresAt"] - datetime.now(timezone.utc)).total_seconds() / 3600)
results["login"], authfile = login(password, "root")
wrong = password[:-1] + ("0" if password[-1] != "0" else "1")
results["wrong_login"] = login(wrong, "wrong")[0]
uri = created["repositoryUri"]
results["push_v1"] = copy(authfile, f"docker://{host}/base/app:v1", f"docker://{uri}:v1")
results["push_v2"] = copy(authfile, f"docker://{host}/base/app:v1", f"docker://{uri}:v2")
results["push_other"] = copy(authfile, f"docker://{host}/base/other:v1", f"docker://{uri}:other")

# Images.
listed = ecr.list_images(repositoryName="boto/app")["imageIds"]
results["listed_tags"] = sorted(i["imageTag"] for i in listed)
paged, token = [], None
while True:
    kwargs = {"repositoryName": "boto/app", "maxResults": 1}
    if token:
        kwargs["nextToken"] = token
    page = ecr.list_images(**kwargs)
    paged += [i["imageTag"] for i in page["imageIds"]]
    token = page.get("nextToken")
    if not token:
        break
results["paged_tags"] = sorted(paged)
detail = ecr.describe_images(repositoryName="boto/app", imageIds=[{"imageTag": "v1"}])["imageDetails"][0]
results["v1_tags"] = sorted(detail["imageTags"])
results["v1_size"] = detail["imageSizeInBytes"]
results["v1_digest"] = detail["imageDigest"]
results["v1_pushed_recently"] = abs((datetime.now(timezone.utc) - detail["imagePushedAt"]).total_seconds()) < 600
results["image_count"] = len(ecr.describe_images(repositoryName="boto/app")["imageDetails"])
results["missing_image"] = code(lambda: ecr.describe_images(repositoryName="boto/app", imageIds=[{"imageTag": "nope"}]))
got = ecr.batch_get_image(repositoryName="boto/app", imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
manifest = json.loads(got["images"][0]["imageManifest"])
results["got_digest"] = got["images"][0]["imageId"]["imageDigest"]
results["got_layers"] = len(manifest.get("layers", []))
results["got_failures"] = [f["failureCode"] for f in got["failures"]]

# Immutable tags: a tag never moves to another image; the same image, or a new tag, is fine.
ecr.put_image_tag_mutability(repositoryName="boto/app", imageTagMutability="IMMUTABLE")
results["now_mutability"] = ecr.describe_repositories(repositoryNames=["boto/app"])["repositories"][0]["imageTagMutability"]
results["overwrite_immutable"] = copy(authfile, f"docker://{host}/base/other:v1", f"docker://{uri}:v1")
results["v1_after_overwrite"] = ecr.describe_images(
    repositoryName="boto/app", imageIds=[{"imageTag": "v1"}])["imageDetails"][0]["imageDigest"]
results["same_image_again"] = copy(authfile, f"docker://{host}/base/app:v1", f"docker://{uri}:v1")
results["new_tag"] = copy(authfile, f"docker://{host}/base/other:v1", f"docker://{uri}:v3")
ecr.put_image_tag_mutability(repositoryName="boto/app", imageTagMutability="MUTABLE")

# Deletes: a tag goes alone while the image keeps another; the last tag takes the image.
deleted = ecr.batch_delete_image(repositoryName="boto/app", imageIds=[{"imageTag": "v2"}, {"imageTag": "nope"}])
results["deleted"] = [i["imageTag"] for i in deleted["imageIds"]]
results["delete_failures"] = [f["failureCode"] for f in deleted["failures"]]
ecr.batch_delete_image(repositoryName="boto/app", imageIds=[{"imageTag": "other"}, {"imageTag": "v3"}])
results["left"] = sorted((sorted(d.get("imageTags", [])) for d in
                          ecr.describe_images(repositoryName="boto/app")["imageDetails"]), key=str)

# A user with no ECR permissions; a user who may only pull from boto/*.
outsider = boto3.client("ecr", aws_access_key_id=outsider_key, aws_secret_access_key=outsider_secret,
                        aws_session_token=None)
results["outsider_create"] = code(lambda: outsider.create_repository(repositoryName="boto/mine"))
results["outsider_token"] = code(lambda: outsider.get_authorization_token())
results["outsider_list"] = code(lambda: outsider.list_images(repositoryName="boto/app"))
puller = boto3.client("ecr", aws_access_key_id=puller_key, aws_secret_access_key=puller_secret,
                      aws_session_token=None)
_, puller_password, _ = password_of(puller)
results["puller_login"], puller_auth = login(puller_password, "puller")
results["puller_pull"] = copy(puller_auth, f"docker://{uri}:v1", f"oci:{work}/pulled:v1")
results["puller_push"] = copy(puller_auth, f"docker://{uri}:v1", f"docker://{host}/boto/pushed:v1")
results["puller_list"] = code(lambda: puller.list_images(repositoryName="boto/app"))
results["puller_delete"] = code(lambda: puller.batch_delete_image(repositoryName="boto/app",
                                                                   imageIds=[{"imageTag": "v1"}]))

# Repositories go: one holding images only by force.
results["delete_not_empty"] = code(lambda: ecr.delete_repository(repositoryName="boto/app"))
results["delete_forced"] = ecr.delete_repository(repositoryName="boto/app", force=True)["repository"]["repositoryName"]
results["after_delete"] = code(lambda: ecr.describe_repositories(repositoryNames=["boto/app"]))
results["delete_missing"] = code(lambda: ecr.delete_repository(repositoryName="boto/app"))
print(json.dumps(results, default=str))
