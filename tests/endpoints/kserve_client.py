"""Talks to a trainyard endpoint with tritonclient's HTTP client (the KServe v2 protocol).

usage: kserve_client.py HOST:PORT MODEL TOKEN ROWS_JSON
Prints {"live", "ready", "metadata", "outputs": {name: values}} as JSON; exits non-zero on
any client error.
"""

import json
import sys

import numpy as np
import tritonclient.http as http


def main() -> None:
    url, model, token, rows = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    headers = {"Authorization": f"Bearer {token}"}
    client = http.InferenceServerClient(url=url)
    data = np.array(rows, dtype=np.float32)
    tensor = http.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=False)
    metadata = client.get_model_metadata(model, headers=headers)
    outputs = [http.InferRequestedOutput(o["name"], binary_data=False) for o in metadata["outputs"]]
    result = client.infer(model, [tensor], outputs=outputs, headers=headers, request_id="42")
    answer = {
        "live": client.is_server_live(),
        "ready": client.is_model_ready(model, headers=headers),
        "metadata": metadata,
        "id": result.get_response().get("id"),
        "outputs": {o["name"]: result.as_numpy(o["name"]).tolist() for o in metadata["outputs"]},
    }
    try:
        bad = http.InferInput("input", [1, data.shape[1] + 1], "FP32")
        bad.set_data_from_numpy(np.zeros((1, data.shape[1] + 1), dtype=np.float32), binary_data=False)
        client.infer(model, [bad], headers=headers)
        answer["wrong_width_error"] = None
    except Exception as error:  # tritonclient raises InferenceServerException
        answer["wrong_width_error"] = str(error)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
