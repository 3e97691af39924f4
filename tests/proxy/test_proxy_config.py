"""Gateway config files: LiteLLM's config.yaml loads unchanged, mistakes name their YAML path, secrets never print."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tollway import Router
from tollway.errors import ConfigurationError
from tollway.proxy.config import MASK, check_config, config_from_mapping, load_config, redacted
from tollway.proxy.config_cli import add_config_commands

FIXTURES = Path(__file__).parent / "fixtures"
FULL = FIXTURES / "litellm_full.yaml"

SERVICE_ACCOUNT = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----sa-6666"})
ENV = {
    "OPENAI_API_KEY": "sk-openai-secret-1111",
    "AZURE_API_KEY": "azure-secret-2222",
    "ANTHROPIC_API_KEY": "sk-ant-secret-3333",
    "AWS_ACCESS_KEY_ID": "AKIASECRET4444",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5555",
    "VERTEX_SERVICE_ACCOUNT_JSON": SERVICE_ACCOUNT,
    "REDIS_PASSWORD": "redis-pass-8888",
    "PROXY_MASTER_KEY": "sk-master-secret-9999",
    "DATABASE_URL": "postgresql://tollway:dbpass-0000@db.internal:5432/tollway",
}
SECRETS = [
    *ENV.values(),
    "sa-6666",
    "dbpass-0000",
    "sk-lf-secret-inline-7777",
    "sk-unterminated-secret-4242",
    "sk-inline-key-should-never-print",
]


def load_full() -> Any:
    with pytest.warns(UserWarning, match="ignoring settings tollway does not use"):
        return load_config(FULL, ENV)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        if secret in ENV.values() and secret.startswith("postgresql"):
            continue  # the URL as a whole; its password is checked on its own
        assert secret not in text, secret


# --- loading --------------------------------------------------------------------------------------------------------


def test_litellm_config_loads_unchanged() -> None:
    config = load_full()
    assert [entry["model_name"] for entry in config.model_list] == [
        "gpt-4o",
        "gpt-4o",
        "claude-sonnet",
        "claude-bedrock",
        "gemini-pro",
        "text-embedding-3-small",
    ]
    # model_list references stay as written: the Router resolves them.
    assert config.model_list[0]["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert config.master_key == "sk-master-secret-9999"
    assert config.database_url == ENV["DATABASE_URL"]
    assert config.redis_url == "redis://:redis-pass-8888@redis.internal:6379"
    assert config.source == str(FULL)
    assert config.settings == {
        "drop_params": True,
        "num_retries": 2,
        "request_timeout": 600,
        "set_verbose": False,
        "max_request_size_mb": 10,
        "store_prompts_in_spend_logs": False,
    }
    assert config.environment["AZURE_API_BASE"] == "https://contoso-eu.openai.azure.com"


def test_litellm_settings_router_values_are_lifted_unless_router_settings_sets_them() -> None:
    settings = load_full().router_settings
    assert settings["fallbacks"] == [{"gpt-4o": ["claude-sonnet"]}, {"claude-sonnet": ["claude-bedrock"]}]
    assert settings["context_window_fallbacks"] == [{"gpt-4o": ["gemini-pro"]}]
    assert settings["num_retries"] == 3  # router_settings wins over litellm_settings.num_retries: 2
    assert settings["timeout"] == 60  # likewise over litellm_settings.request_timeout
    assert settings["cache"] is True
    assert settings["cache_params"] == {"type": "redis", "ttl": 300}  # supported_call_types dropped, reported
    assert settings["redis_password"] == "redis-pass-8888"  # router_settings references resolved here
    assert "model_group_alias" not in settings


def test_loaded_config_builds_a_router_without_further_warnings() -> None:
    config = load_full()
    env = {**ENV, **config.environment}
    router = Router(list(config.model_list), environ=env, **config.router_settings)  # filterwarnings=error
    assert sorted(router.model_names) == [
        "claude-bedrock",
        "claude-sonnet",
        "gemini-pro",
        "gpt-4o",
        "text-embedding-3-small",
    ]
    assert router.settings.fallbacks["gpt-4o"] == ("claude-sonnet",)
    assert router.settings.num_retries == 3


def test_minimal_config_routes_with_the_mock_provider() -> None:
    config = load_config(FIXTURES / "minimal.yaml", {})
    router = Router(list(config.model_list), environ={}, **config.router_settings)
    reply = router.completion(model="demo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "hello"
    assert config.unknown == ()
    assert config.master_key is None


def test_environment_fallbacks_for_gateway_values() -> None:
    env = {"TOLLWAY_MASTER_KEY": "sk-from-env-1234", "DATABASE_URL": "sqlite:///x.db", "REDIS_URL": "redis://r:6379"}
    config = config_from_mapping({}, env)
    assert (config.master_key, config.database_url, config.redis_url) == tuple(env.values())
    assert config.model_list == ()


def test_environment_variables_are_returned_and_override_the_environment() -> None:
    data = {
        "environment_variables": {"PROXY_KEY": "sk-config-1234", "PORT": 8080, "DEBUG": True},
        "general_settings": {"master_key": "os.environ/PROXY_KEY"},
    }
    config = config_from_mapping(data, {"PROXY_KEY": "sk-process-5678"})
    assert config.environment == {"PROXY_KEY": "sk-config-1234", "PORT": "8080", "DEBUG": "true"}
    assert config.master_key == "sk-config-1234"


def test_typed_settings_read_environment_references() -> None:
    data = {
        "litellm_settings": {"drop_params": "os.environ/DROP"},
        "general_settings": {"max_request_size_mb": "os.environ/MB"},
    }
    config = config_from_mapping(data, {"DROP": "true", "MB": "2.5"})
    assert config.settings == {"drop_params": True, "max_request_size_mb": 2.5}


def test_unknown_keys_are_one_warning_listing_their_paths() -> None:
    data = {
        "model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a"}, "tpm": 5}],
        "guardrails": [],
        "litellm_settings": {"success_callback": ["langfuse"]},
        "general_settings": {"alerting": ["slack"]},
        "router_settings": {"no_such_setting": 1},
    }
    with pytest.warns(UserWarning, match="ignoring settings") as caught:
        config = config_from_mapping(data, {}, source="c.yaml")
    assert len(caught) == 1
    expected = (
        "guardrails",
        "model_list[0].tpm",
        "litellm_settings.success_callback",
        "router_settings.no_such_setting",
        "general_settings.alerting",
    )
    assert config.unknown == expected
    message = str(caught[0].message)
    assert message.startswith("c.yaml: ignoring settings tollway does not use:")
    assert all(path in message for path in expected)


# --- errors ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("bad_rpm.yaml", 'model_list[2].litellm_params.rpm: expected a number, got "fast"'),
        ("bad_model_list.yaml", "model_list: expected a list of deployments, got a mapping"),
        ("missing_model_name.yaml", "model_list[0].model_name: expected the public model name, got nothing"),
        ("missing_model.yaml", "model_list[0].litellm_params.model: expected a model string"),
        ("bad_router_settings.yaml", "router_settings: expected a mapping of settings, got a list"),
        ("not_a_mapping.yaml", "top level: expected a mapping of sections"),
        ("bad_fallback.yaml", "litellm_settings.fallbacks['demo']: unknown model group 'no-such-group'"),
    ],
)
def test_invalid_files_name_the_yaml_path(fixture: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(FIXTURES / fixture, ENV)
    assert caught.value.message.startswith(message), caught.value.message
    assert check_config(FIXTURES / fixture, ENV) == [caught.value.message]


def test_yaml_syntax_error_gives_line_and_column_but_not_the_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(FIXTURES / "bad_syntax.yaml", {})
    message = caught.value.message
    assert message.startswith(f"{FIXTURES / 'bad_syntax.yaml'}: YAML syntax error at line 7, column 1")
    assert "quoted scalar started at line 5" in message
    assert "sk-unterminated-secret-4242" not in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "top level: expected a mapping of sections (model_list, router_settings"),
        (b"just a string\n", "top level: expected a mapping of sections"),
        (b"model_list: [\xff\xfe]\n", "not readable as YAML text"),
        (b"a: 1\n\tb: 2\n", "YAML syntax error at line 2, column 1"),
    ],
)
def test_files_that_are_not_configs(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError) as caught:
        load_config(path, {})
    assert message in caught.value.message


def test_alias_expansion_is_capped(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nmodel_list: []\n")
    with pytest.raises(ConfigurationError, match="expands to more than 200,000 values"):
        load_config(path, {})


def test_anchors_and_merge_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "defaults: &defaults {model: mock/demo, rpm: 10}\n"
        "model_list:\n"
        "  - {model_name: a, litellm_params: {<<: *defaults}}\n"
        "  - {model_name: b, litellm_params: {<<: *defaults, rpm: 20}}\n"
    )
    with pytest.warns(UserWarning, match="ignoring settings tollway does not use: defaults"):
        config = load_config(path, {})
    assert [entry["litellm_params"]["rpm"] for entry in config.model_list] == [10, 20]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml", {})
    with pytest.raises(ConfigurationError, match="cannot read the config file"):
        load_config(tmp_path, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"model_list": ["gpt-4o"]},
            'model_list[0]: expected a mapping with model_name and litellm_params, got "gpt-4o"',
        ),
        (
            {"model_list": [{"model_name": "a", "litellm_params": "mock/a"}]},
            "model_list[0].litellm_params: expected a mapping",
        ),
        (
            {"model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a", "weight": -1}}]},
            "model_list[0].litellm_params.weight: expected a number, got -1",
        ),
        (
            {"model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a"}, "model_info": [1]}]},
            "model_list[0].model_info: expected a mapping, got a list",
        ),
        (
            {"litellm_settings": {"drop_params": "yes"}},
            'litellm_settings.drop_params: expected true or false, got "yes"',
        ),
        ({"litellm_settings": {"num_retries": 1.5}}, "litellm_settings.num_retries: expected a whole number, got 1.5"),
        (
            {"litellm_settings": {"cache_params": {"type": "s3"}}},
            "litellm_settings.cache_params.type: 's3' is not supported",
        ),
        (
            {"general_settings": {"max_request_size_mb": "big"}},
            'general_settings.max_request_size_mb: expected a number, got "big"',
        ),
        (
            {"general_settings": {"master_key": 1234567}},
            "general_settings.master_key: expected a string, got a int (value hidden)",
        ),
        (
            {"general_settings": {"master_key": "os.environ/NOPE"}},
            "general_settings.master_key: environment variable NOPE (from os.environ/NOPE) is not set",
        ),
        (
            {"router_settings": {"redis_password": "os.environ/NOPE"}},
            "router_settings.redis_password: environment variable NOPE",
        ),
        (
            {"router_settings": {"routing_strategy": "fastest"}},
            "router_settings.routing_strategy: unknown strategy 'fastest'",
        ),
        ({"environment_variables": ["A=1"]}, "environment_variables: expected a mapping of NAME: value, got a list"),
        ({"general_settings": {1: "x"}}, "general_settings: setting names must be strings, got 1"),
    ],
)
def test_invalid_values_name_the_yaml_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        config_from_mapping(data, {})
    assert caught.value.message.startswith(message), caught.value.message


def test_check_config_reports_what_the_router_would_refuse() -> None:
    assert check_config(FULL, ENV) == []
    missing = {name: value for name, value in ENV.items() if name != "AZURE_API_KEY"}
    assert check_config(FULL, missing) == ["model_list[1].litellm_params.api_key: os.environ/AZURE_API_KEY is not set"]
    problems = check_config(FIXTURES / "unknown_provider.yaml", {})
    assert problems[0].startswith("model_list[0].litellm_params.model: unknown provider 'nosuchprovider'")


def test_check_config_finds_duplicate_ids_without_printing_keys(tmp_path: Path) -> None:
    entry = {"model_name": "a", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-dup-secret-1234"}}
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump({"model_list": [entry, entry]}))
    (problem,) = check_config(path, {})
    assert problem.startswith("model_list[1]: duplicate deployment id")
    assert "sk-dup-secret-1234" not in problem


# --- secrets --------------------------------------------------------------------------------------------------------


def test_redacted_view_masks_every_secret() -> None:
    view = redacted(load_full())
    text = json.dumps(view)
    assert_no_secret(text)
    assert view["master_key"] == MASK
    assert view["database_url"] == f"postgresql://tollway:{MASK}@db.internal:5432/tollway"
    assert view["redis_url"] == f"redis://:{MASK}@redis.internal:6379"
    assert view["router_settings"]["redis_password"] == MASK
    assert view["environment"] == {
        "LANGFUSE_PUBLIC_KEY": MASK,
        "LANGFUSE_SECRET_KEY": MASK,
        "AZURE_API_BASE": "https://contoso-eu.openai.azure.com",
    }
    # References name a variable, not a secret; quantities and prices are not secrets.
    assert view["model_list"][0]["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert view["model_list"][4]["model_info"] == {"input_cost_per_token": 0.00000125, "max_tokens": 8192}


def test_redacted_masks_inline_secrets_of_every_shape() -> None:
    params = {
        "model": "vertex_ai/gemini-1.5-pro",
        "api_key": "sk-inline-key-should-never-print-1",
        "aws_secret_access_key": "aws-inline-should-never-print-2",
        "aws_session_token": "tok-inline-should-never-print-3",
        "vertex_credentials": {"private_key": "pem-should-never-print-4", "client_email": "x@y"},
        "extra_headers": {"Authorization": "Bearer hdr-should-never-print-5", "X-Team": "blue"},
        "api_base": "https://u:url-pass-should-never-print-6@h.example/v1?api-key=query-should-never-print-7&x=1",
        "max_tokens": 100,
    }
    data = {"model_list": [{"model_name": "g", "litellm_params": params}]}
    view = redacted(config_from_mapping(data, {}))
    text = json.dumps(view)
    assert "should-never-print" not in text
    shown = view["model_list"][0]["litellm_params"]
    assert shown["vertex_credentials"] == MASK
    assert shown["extra_headers"] == {"Authorization": MASK, "X-Team": "blue"}
    assert shown["api_base"] == f"https://u:{MASK}@h.example/v1?api-key={MASK}&x=1"
    assert shown["max_tokens"] == 100


def test_error_messages_never_carry_a_secret_value() -> None:
    data = {
        "model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a"}}],
        "router_settings": {"redis_password": 98765432},
    }
    with pytest.raises(ConfigurationError) as caught:
        config_from_mapping(data, {})
    assert caught.value.message.startswith("router_settings.redis_password: expected a string")
    assert "98765432" not in caught.value.message


# --- command line ---------------------------------------------------------------------------------------------------


def run_cli(argv: list[str], environ: dict[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="tollway")
    add_config_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    status: int = args.handler(args, environ)
    return status


def test_cli_check_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["config", "check", str(FULL)], ENV) == 0
    out, err = capsys.readouterr()
    assert out == f"{FULL}: OK\n"
    assert "warning: ignored (not used by tollway): litellm_settings.success_callback" in err
    assert_no_secret(out + err)


@pytest.mark.parametrize("fixture", ["bad_rpm.yaml", "bad_syntax.yaml", "missing_model.yaml", "unknown_provider.yaml"])
def test_cli_check_invalid_file(capsys: pytest.CaptureFixture[str], fixture: str) -> None:
    assert run_cli(["config", "check", str(FIXTURES / fixture)], ENV) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{FIXTURES / fixture}: error: ")
    assert_no_secret(err)


def test_cli_show_prints_the_redacted_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["config", "show", str(FULL)], ENV) == 0
    out, err = capsys.readouterr()
    assert_no_secret(out + err)
    shown = yaml.safe_load(out)
    assert shown["master_key"] == MASK
    assert shown["model_list"][1]["litellm_params"]["model"] == "azure/gpt-4o-eu"
    assert "ignoring settings tollway does not use" in err


def test_cli_show_invalid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["config", "show", str(FIXTURES / "bad_model_list.yaml")], {}) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "model_list: expected a list of deployments" in err


def test_cli_requires_an_action() -> None:
    with pytest.raises(SystemExit):
        run_cli(["config"], {})


def test_governance_and_economics_settings_from_a_file_reach_the_gateway(tmp_path: Path) -> None:
    """Every general_settings key a tollway service reads is kept (not warned about and dropped), env refs resolved."""
    general = {
        "spend_spool_dir": "/var/spool/tollway",
        "maximum_spend_logs_retention_period": "30d",
        "default_customer_limits": {"rpm_limit": 5, "max_budget": "os.environ/BUDGET"},
        "alerts_interval": 5,
        "alerts_smtp": {"host": "127.0.0.1", "password": "os.environ/SMTP_PASSWORD"},
        "billing_export": {"cloudevents": {"url": "http://127.0.0.1:9/events"}},
        "redis_prefix": "tw:",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [], "general_settings": general}))
    config = load_config(path, {"BUDGET": "2.5", "SMTP_PASSWORD": "hunter2"})
    assert not config.unknown
    assert config.settings["spend_spool_dir"] == "/var/spool/tollway"
    assert config.settings["default_customer_limits"] == {"rpm_limit": 5, "max_budget": "2.5"}
    assert config.settings["alerts_smtp"]["password"] == "hunter2"
    assert config.settings["billing_export"] == general["billing_export"]
    path.write_text(yaml.safe_dump({"general_settings": {"spend_spool_dir": ["not", "text"]}}))
    with pytest.raises(ConfigurationError, match=r"general_settings\.spend_spool_dir: expected a string"):
        load_config(path, {})
