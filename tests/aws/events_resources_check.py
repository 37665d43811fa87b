"""EventBridge buses, archives, replays, ListRuleNamesByTarget and TestEventPattern with plain
boto3. argv[1]: a function name a rule targets. Prints one JSON object."""
import datetime
import json
import sys
import time

from common import client, code

function = sys.argv[1]
events = client("events")
results = {}
account = client("sts").get_caller_identity()["Account"]
region = events.meta.region_name

bus_arn = events.create_event_bus(Name="orders")["EventBusArn"]
results["bus_arn"] = bus_arn
results["duplicate_bus"] = code(lambda: events.create_event_bus(Name="orders"))
results["buses"] = sorted(b["Name"] for b in events.list_event_buses()["EventBuses"])
results["described_bus"] = events.describe_event_bus(Name="orders")["Name"]

pattern = json.dumps({"source": ["shop"], "detail": {"total": [{"numeric": [">", 10]}]}})
results["test_match"] = events.test_event_pattern(EventPattern=pattern, Event=json.dumps(
    {"id": "1", "account": account, "source": "shop", "time": "2026-12-07T00:00:00Z", "region": region,
     "resources": [], "detail-type": "Order", "detail": {"total": 12}}))["Result"]
results["test_miss"] = events.test_event_pattern(EventPattern=pattern, Event=json.dumps(
    {"id": "1", "account": account, "source": "shop", "time": "2026-12-07T00:00:00Z", "region": region,
     "resources": [], "detail-type": "Order", "detail": {"total": 3}}))["Result"]
results["bad_pattern"] = code(lambda: events.test_event_pattern(EventPattern="{", Event="{}"))

target = f"arn:aws:lambda:{region}:{account}:function:{function}"
events.put_rule(Name="big-orders", EventBusName="orders", EventPattern=pattern)
events.put_targets(Rule="big-orders", EventBusName="orders", Targets=[{"Id": "fn", "Arn": target}])
results["rules_by_target"] = events.list_rule_names_by_target(TargetArn=target, EventBusName="orders")["RuleNames"]

archive = events.create_archive(ArchiveName="orders-archive", EventSourceArn=bus_arn, RetentionDays=1)
results["archive_state"] = archive["State"]
start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
events.put_events(Entries=[{"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"total": 20}),
                            "EventBusName": "orders"}])
deadline = time.time() + 20
while time.time() < deadline and events.describe_archive(ArchiveName="orders-archive")["EventCount"] < 1:
    time.sleep(0.2)
results["archived"] = events.describe_archive(ArchiveName="orders-archive")["EventCount"]
results["archives"] = [a["ArchiveName"] for a in events.list_archives()["Archives"]]
end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
replay = events.start_replay(ReplayName="again", EventSourceArn=archive["ArchiveArn"], EventStartTime=start,
                             EventEndTime=end, Destination={"Arn": bus_arn})
results["replay_started"] = replay["State"]
deadline = time.time() + 30
while time.time() < deadline and events.describe_replay(ReplayName="again")["State"] not in ("COMPLETED", "FAILED"):
    time.sleep(0.2)
results["replay_state"] = events.describe_replay(ReplayName="again")["State"]
results["replays"] = [r["ReplayName"] for r in events.list_replays()["Replays"]]
results["missing_archive"] = code(lambda: events.describe_archive(ArchiveName="nope"))
events.delete_archive(ArchiveName="orders-archive")
events.remove_targets(Rule="big-orders", EventBusName="orders", Ids=["fn"])
events.delete_rule(Name="big-orders", EventBusName="orders")
events.delete_event_bus(Name="orders")
results["deleted_bus"] = code(lambda: events.describe_event_bus(Name="orders"))
print(json.dumps(results))
