"""The model zoo. ``REGISTRY`` maps a model name to its card (see ``models.card.ModelCard``)."""

from models.afm import AFM_CARD
from models.autoint import AUTOINT_CARD
from models.autorec import AUTOREC_CARD
from models.baselines import POP_CARD, RANDOM_CARD
from models.bst import BST_CARD
from models.card import ModelCard
from models.dcnv2 import DCNV2_CARD
from models.deep_crossing import DEEP_CROSSING_CARD
from models.deepfm import DEEPFM_CARD
from models.dien import DIEN_CARD
from models.din import DIN_CARD
from models.drn import DRN_CARD
from models.gbdt import GBDT_CARD
from models.linear import FM_CARD, LR_CARD
from models.mf import MF_CARD
from models.ncf import GMF_CARD, MLP_CARD, NEUMF_CARD
from models.nfm import NFM_CARD
from models.pnn import PNN_CARD
from models.two_tower import TWO_TOWER_CARD
from models.wide_deep import WIDE_DEEP_CARD
from models.xdeepfm import XDEEPFM_CARD

CARDS: list[ModelCard] = [
    LR_CARD,
    FM_CARD,
    GBDT_CARD,
    WIDE_DEEP_CARD,
    DEEPFM_CARD,
    DEEP_CROSSING_CARD,
    PNN_CARD,
    NFM_CARD,
    AFM_CARD,
    DCNV2_CARD,
    AUTOINT_CARD,
    XDEEPFM_CARD,
    DIN_CARD,
    DIEN_CARD,
    BST_CARD,
    POP_CARD,
    RANDOM_CARD,
    MF_CARD,
    AUTOREC_CARD,
    GMF_CARD,
    MLP_CARD,
    NEUMF_CARD,
    TWO_TOWER_CARD,
    DRN_CARD,
]

REGISTRY: dict[str, ModelCard] = {card.name: card for card in CARDS}
