"""S3 through the AWS endpoint with plain boto3: buckets, objects with odd keys, a range
read, listing with delimiter and continuation, copy, delete, and AWS's errors. Prints one
JSON object."""
import hashlib
import json
import os
import sys

from common import client, code

work = sys.argv[1]
results = {}
s3 = client("s3")



s3.create_bucket(Bucket="facade")
results["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
body = bytes(range(256)) * 4096  # 1 MiB
s3.put_object(Bucket="facade", Key="data/train/part 0+1.bin", Body=body)
got = s3.get_object(Bucket="facade", Key="data/train/part 0+1.bin")["Body"].read()
results["roundtrip"] = hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()
ranged = s3.get_object(Bucket="facade", Key="data/train/part 0+1.bin", Range="bytes=10-19")
results["range"] = list(ranged["Body"].read())
results["range_header"] = ranged["ContentRange"]
head = s3.head_object(Bucket="facade", Key="data/train/part 0+1.bin")
results["size"] = head["ContentLength"]
results["etag"] = head["ETag"].strip('"') == hashlib.md5(body).hexdigest()
for i in range(5):
    s3.put_object(Bucket="facade", Key=f"data/many/k{i}.csv", Body=b"x,y\n")
s3.upload_file(f"{work}/upload.csv", "facade", "data/üñí/ké y.csv")
listed = s3.list_objects_v2(Bucket="facade", Prefix="data/", Delimiter="/")
results["prefixes"] = sorted(p["Prefix"] for p in listed.get("CommonPrefixes", []))
keys, token = [], None
while True:
    kwargs = {"Bucket": "facade", "Prefix": "data/many/", "MaxKeys": 2}
    if token:
        kwargs["ContinuationToken"] = token
    page = s3.list_objects_v2(**kwargs)
    keys += [o["Key"] for o in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
results["paged"] = keys
results["unicode"] = [o["Key"] for o in s3.list_objects_v2(Bucket="facade", Prefix="data/üñí/")["Contents"]]
s3.copy_object(Bucket="facade", Key="copy.csv", CopySource={"Bucket": "facade", "Key": "data/many/k0.csv"})
results["copied"] = s3.get_object(Bucket="facade", Key="copy.csv")["Body"].read().decode()
deleted = s3.delete_objects(Bucket="facade", Delete={"Objects": [{"Key": f"data/many/k{i}.csv"} for i in range(5)]})
results["deleted"] = len(deleted.get("Deleted", []))
results["missing_key"] = code(lambda: s3.get_object(Bucket="facade", Key="nope"))
results["missing_bucket"] = code(lambda: s3.list_objects_v2(Bucket="no-such-bucket"))
results["not_empty"] = code(lambda: s3.delete_bucket(Bucket="facade"))
results["acl"] = code(lambda: s3.put_object_acl(Bucket="facade", Key="copy.csv", ACL="public-read"))
results["intact"] = s3.get_object(Bucket="facade", Key="copy.csv")["Body"].read().decode()

# User metadata and tags: kept, copied (or replaced), retagged, untagged.
s3.put_object(Bucket="facade", Key="meta.csv", Body=b"m", Metadata={"owner": "ana", "run": "7"},
              Tagging="team=ml&stage=dev")
results["metadata"] = s3.head_object(Bucket="facade", Key="meta.csv")["Metadata"]
tag_set = lambda key: sorted([t["Key"], t["Value"]] for t in s3.get_object_tagging(Bucket="facade", Key=key)["TagSet"])
results["tags"] = tag_set("meta.csv")
results["tag_count"] = s3.get_object(Bucket="facade", Key="meta.csv").get("TagCount")
s3.copy_object(Bucket="facade", Key="meta-copy.csv", CopySource={"Bucket": "facade", "Key": "meta.csv"})
results["copied_metadata"] = s3.head_object(Bucket="facade", Key="meta-copy.csv")["Metadata"]
results["copied_tags"] = tag_set("meta-copy.csv")
s3.copy_object(Bucket="facade", Key="meta-copy.csv", CopySource={"Bucket": "facade", "Key": "meta.csv"},
               MetadataDirective="REPLACE", Metadata={"x": "y"})
results["replaced_metadata"] = s3.head_object(Bucket="facade", Key="meta-copy.csv")["Metadata"]
s3.put_object_tagging(Bucket="facade", Key="meta.csv", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
results["retagged"] = tag_set("meta.csv")
s3.delete_object_tagging(Bucket="facade", Key="meta.csv")
results["untagged"] = tag_set("meta.csv")
results["too_many_tags"] = code(lambda: s3.put_object_tagging(
    Bucket="facade", Key="meta.csv", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}))

# ListParts: the parts of an upload in progress, paged.
upload = s3.create_multipart_upload(Bucket="facade", Key="parts.bin")["UploadId"]
for number in (1, 2):
    s3.upload_part(Bucket="facade", Key="parts.bin", UploadId=upload, PartNumber=number, Body=b"p" * 100)
listed = s3.list_parts(Bucket="facade", Key="parts.bin", UploadId=upload)
results["parts"] = [(p["PartNumber"], p["Size"]) for p in listed["Parts"]]
page = s3.list_parts(Bucket="facade", Key="parts.bin", UploadId=upload, MaxParts=1)
results["parts_page"] = [page["IsTruncated"], page["NextPartNumberMarker"], len(page["Parts"])]
s3.abort_multipart_upload(Bucket="facade", Key="parts.bin", UploadId=upload)

# A bucket policy grants a user with no policy of its own; deleting it takes that back.
if len(sys.argv) > 3:
    guest = client("s3", aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], aws_session_token=None)
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="data/a.csv", Body=b"shared\n")
    results["guest_before"] = code(lambda: guest.get_object(Bucket="shared", Key="data/a.csv"))
    results["no_policy"] = code(lambda: s3.get_bucket_policy(Bucket="shared"))
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/guest"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/data/*"}]}
    s3.put_bucket_policy(Bucket="shared", Policy=json.dumps(policy))
    results["policy_back"] = json.loads(s3.get_bucket_policy(Bucket="shared")["Policy"]) == policy
    results["guest_with_policy"] = guest.get_object(Bucket="shared", Key="data/a.csv")["Body"].read().decode()
    results["guest_put"] = code(lambda: guest.put_object(Bucket="shared", Key="data/b.csv", Body=b"x"))
    results["malformed_policy"] = code(lambda: s3.put_bucket_policy(Bucket="shared", Policy='{"Statement": 1}'))
    s3.delete_bucket_policy(Bucket="shared")
    results["guest_after"] = code(lambda: guest.get_object(Bucket="shared", Key="data/a.csv"))
results["bad_range"] = code(lambda: s3.get_object(Bucket="facade", Key="copy.csv", Range="bytes=100-200"))


# A multipart upload (boto3's transfer manager, 5 MiB parts) round-trips byte for byte.
from boto3.s3.transfer import TransferConfig
big = os.urandom(12 * 1024 * 1024 + 123)
with open(f"{work}/big.bin", "wb") as f:
    f.write(big)
config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_file(f"{work}/big.bin", "facade", "big/big.bin", Config=config)
s3.download_file("facade", "big/big.bin", f"{work}/big.back", Config=config)
with open(f"{work}/big.back", "rb") as f:
    results["multipart"] = hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(big).hexdigest()
upload = s3.create_multipart_upload(Bucket="facade", Key="never.bin")["UploadId"]
part = s3.upload_part(Bucket="facade", Key="never.bin", UploadId=upload, PartNumber=1, Body=b"x" * 1024)
results["wrong_part"] = code(lambda: s3.complete_multipart_upload(
    Bucket="facade", Key="never.bin", UploadId=upload,
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]}))
s3.abort_multipart_upload(Bucket="facade", Key="never.bin", UploadId=upload)
results["aborted"] = code(lambda: s3.head_object(Bucket="facade", Key="never.bin"))
results["after_abort"] = code(lambda: s3.upload_part(Bucket="facade", Key="never.bin", UploadId=upload,
                                                     PartNumber=2, Body=b"y"))

# A body that does not hash to its signed x-amz-content-sha256: refused, and no object.
import os
import urllib.request
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url = f"{os.environ['AWS_ENDPOINT_URL']}/facade/tampered.csv"
signed = AWSRequest(method="PUT", url=url, data=b"good", headers={"x-amz-content-sha256": hashlib.sha256(b"good").hexdigest()})
S3SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                        os.environ["AWS_SESSION_TOKEN"]), "s3", "us-east-1").add_auth(signed)
tampered = urllib.request.Request(url, data=b"evil", method="PUT", headers=dict(signed.headers))
try:
    urllib.request.urlopen(tampered)
    results["tampered"] = "stored"
except urllib.error.HTTPError as e:
    results["tampered"] = e.read().decode()
results["tampered_object"] = code(lambda: s3.head_object(Bucket="facade", Key="tampered.csv"))
print(json.dumps(results))
