"""Command mode: which plain text reaches which module's command (the first match answers)."""
import pytest

from tools import all_commands


def _owner(text: str) -> str | None:
    for pattern, handler in all_commands():
        if pattern.search(text):
            return f"{handler.__module__.rsplit('.', 1)[-1]}:{getattr(handler, '__name__', '')}"
    return None


@pytest.mark.parametrize("text, owner", [
    ("NÃO POSSUO CADASTRO", "accounts:_register_command"),
    ("não possuo cadastro", "accounts:_register_command"),
    ("cadastro", "accounts:_register_command"),
    ("quero me cadastrar", "accounts:_register_command"),
    ("login", "accounts:_login_command"),
    ("login ***.982.247-**", "accounts:_login_command"),
    ("sair da conta", "accounts:<lambda>"),
    ("lista: pão; leite", "todos:_list_command"),
    ("Lista Mercado: pão; leite", "todos:_list_command"),
    ("minhas listas", "todos:_show_command"),
    ("lista 2", "todos:_show_command"),
    ("feito 2", "todos:_tick_command"),
    ("feito 1, 3 da lista 2", "todos:_tick_command"),
    ("desmarcar 1", "todos:_tick_command"),
    ("histórico dentista", "history:_history_command"),
    ("historico ontem", "history:_history_command"),
    ("exportar meus dados", "privacy:_export_command"),
    ("apagar meus dados", "privacy:_erase_command"),
])
def test_commands_reach_their_module(text, owner):
    assert _owner(text) == owner


@pytest.mark.parametrize("text", ["listas de compras são chatas", "feito isso, e agora?", "loginho", "cadastrou?"])
def test_ordinary_sentences_are_not_taken_as_account_or_list_commands(text):
    owner = _owner(text) or ""
    assert not owner.startswith(("accounts:", "todos:")), owner
