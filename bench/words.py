"""A fixed Portuguese vocabulary for seeded photo descriptions and search queries (deterministic)."""
from __future__ import annotations

import random
from typing import Iterator

NOUNS = (
    "praia mar areia sol onda barco ilha coqueiro cachorro gato cavalo pássaro peixe tartaruga "
    "criança crianças família mãe pai avó avô irmão irmã amigo amigos namorada festa aniversário "
    "bolo casamento formatura natal ano-novo carnaval churrasco piscina montanha trilha cachoeira "
    "rio lago floresta árvore flor flores jardim parque cidade rua prédio casa apartamento cozinha "
    "sala quarto varanda carro bicicleta moto ônibus avião viagem férias hotel restaurante comida "
    "pizza sorvete café almoço jantar pão feira mercado escola faculdade trabalho escritório reunião "
    "documento recibo nota fiscal boleto contrato receita remédio exame hospital consulta vacina "
    "futebol jogo estádio show música violão livro biblioteca museu igreja ponte estrada pôr-do-sol "
    "chuva neve nuvem céu lua estrelas noite manhã tarde campo fazenda vaca galinha horta"
).split()
ADJECTIVES = ("bonito bonita lindo linda grande pequeno pequena azul verde vermelho amarelo antigo "
              "novo nova feliz engraçado").split()
FILLERS = ("meu minha nosso nossa com na no da do de em para os as um uma").split()


class Vocabulary:
    """Descriptions and queries drawn from the word lists with a Zipf-like skew, from a fixed seed."""

    def __init__(self, seed: int = 20261122) -> None:
        self.rng = random.Random(seed)
        self.weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(NOUNS))]

    def _nouns(self, k: int) -> list[str]:
        return self.rng.choices(NOUNS, weights=self.weights, k=k)

    def description(self) -> str:
        """A short caption such as 'minha cachorro na praia azul com família'."""
        words: list[str] = []
        for noun in self._nouns(self.rng.randint(2, 5)):
            words.append(self.rng.choice(FILLERS))
            words.append(noun)
            if self.rng.random() < 0.3:
                words.append(self.rng.choice(ADJECTIVES))
        return " ".join(words)

    def descriptions(self, count: int) -> Iterator[str]:
        """`count` descriptions, lazily."""
        for _ in range(count):
            yield self.description()

    def query(self) -> str:
        """What a user asks for: one to three words, the frequent ones more often."""
        return " ".join(self._nouns(self.rng.choice((1, 1, 2, 2, 3))))
