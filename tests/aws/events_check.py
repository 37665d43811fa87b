"""EventBridge through the AWS endpoint with plain boto3: a rule, a Lambda-ARN target
(a trainyard function), put_events, and the errors AWS gives. Prints one JSON object."""
import json
import sys
import time

from common import client, code

function_name = sys.argv[1]
results = {}
events = client("events")



rule = events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}), Description="orders")
results["rule_arn"] = rule["RuleArn"]
described = events.describe_rule(Name="orders")
results["pattern"] = json.loads(described["EventPattern"])
target_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
put = events.put_targets(Rule="orders", Targets=[{"Id": "fn", "Arn": target_arn, "InputPath": "$.detail"}])
results["failed_targets"] = put["FailedEntryCount"]
results["targets"] = [t["Id"] for t in events.list_targets_by_rule(Rule="orders")["Targets"]]
sent = events.put_events(Entries=[{"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"total": 3}),
                                   "Time": time.time()}])
results["failed_events"] = sent["FailedEntryCount"]
results["event_id"] = sent["Entries"][0].get("EventId", "")
results["rules"] = [r["Name"] for r in events.list_rules(NamePrefix="ord")["Rules"]]
results["missing_rule"] = code(lambda: events.describe_rule(Name="nope"))
results["bad_pattern"] = code(lambda: events.put_rule(Name="bad", EventPattern='{"source": "not-a-list"}'))
events.disable_rule(Name="orders")
results["state"] = events.describe_rule(Name="orders")["State"]
print(json.dumps(results))
