"""Synthetic organisations for the screening benchmark: realistic names, the same on every run.

The index should be stressed as real data stresses it, so the names are built the way real
institution names are, from word lists: places (many Chinese cities and provinces, with their
Chinese characters), fields, institution types and company suffixes, in each country's own
patterns. A large share are Chinese, with an official Chinese name built from the same parts as
the English one (北京 + 理工 + 大学 for "Beijing University of Science and Technology"), so
many of them are look-alikes of the listed institutions, as real look-alikes are. Some have
aliases (former names, translations) and acronyms, most universities and institutes a ROR-like
identifier.

Names that a caller says to avoid (the demo subjects' own names, the evaluation set's queries)
are never generated: a synthetic subject that *is* a listed institution, or that is exactly the
hard negative a case names, would make a right answer look wrong.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

SEED = 20261205


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """``"a A|b B c"`` -> ``(("a", "A"), ("b", "B c"))``: the first word, then the rest."""
    out = []
    for item in text.split("|"):
        first, _, rest = item.strip().partition(" ")
        out.append((first, rest))
    return tuple(out)


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split("|") if word.strip())


# Chinese places: characters, then their English (pinyin) form.
CN_PLACES = _pairs(
    "北京 Beijing|上海 Shanghai|天津 Tianjin|重庆 Chongqing|哈尔滨 Harbin|长春 Changchun|"
    "沈阳 Shenyang|大连 Dalian|济南 Jinan|青岛 Qingdao|南京 Nanjing|苏州 Suzhou|无锡 Wuxi|"
    "常州 Changzhou|杭州 Hangzhou|宁波 Ningbo|温州 Wenzhou|合肥 Hefei|福州 Fuzhou|厦门 Xiamen|"
    "南昌 Nanchang|郑州 Zhengzhou|洛阳 Luoyang|武汉 Wuhan|长沙 Changsha|广州 Guangzhou|"
    "深圳 Shenzhen|珠海 Zhuhai|东莞 Dongguan|佛山 Foshan|南宁 Nanning|桂林 Guilin|海口 Haikou|"
    "成都 Chengdu|绵阳 Mianyang|贵阳 Guiyang|昆明 Kunming|拉萨 Lhasa|西安 Xi'an|兰州 Lanzhou|"
    "西宁 Xining|银川 Yinchuan|乌鲁木齐 Urumqi|呼和浩特 Hohhot|包头 Baotou|太原 Taiyuan|"
    "石家庄 Shijiazhuang|保定 Baoding|唐山 Tangshan|秦皇岛 Qinhuangdao|烟台 Yantai|威海 Weihai|"
    "徐州 Xuzhou|扬州 Yangzhou|镇江 Zhenjiang|南通 Nantong|湘潭 Xiangtan|株洲 Zhuzhou|"
    "宜昌 Yichang|襄阳 Xiangyang|大庆 Daqing|齐齐哈尔 Qiqihar|吉林 Jilin|锦州 Jinzhou|"
    "鞍山 Anshan|淄博 Zibo|潍坊 Weifang|临沂 Linyi|芜湖 Wuhu|蚌埠 Bengbu|泉州 Quanzhou|"
    "赣州 Ganzhou|开封 Kaifeng|新乡 Xinxiang|黄石 Huangshi|衡阳 Hengyang|汕头 Shantou|"
    "湛江 Zhanjiang|柳州 Liuzhou|三亚 Sanya|自贡 Zigong|宜宾 Yibin|遵义 Zunyi|大理 Dali|"
    "宝鸡 Baoji|咸阳 Xianyang|天水 Tianshui|延安 Yan'an|黑龙江 Heilongjiang|辽宁 Liaoning|"
    "河北 Hebei|河南 Henan|山东 Shandong|山西 Shanxi|陕西 Shaanxi|江苏 Jiangsu|浙江 Zhejiang|"
    "安徽 Anhui|福建 Fujian|江西 Jiangxi|湖北 Hubei|湖南 Hunan|广东 Guangdong|广西 Guangxi|"
    "海南 Hainan|四川 Sichuan|贵州 Guizhou|云南 Yunnan|甘肃 Gansu|青海 Qinghai|"
    "内蒙古 Inner Mongolia|新疆 Xinjiang|西藏 Tibet|宁夏 Ningxia|中国 China|西北 Northwest|"
    "东北 Northeast|华北 North China|华东 East China|华南 South China|华中 Central China|"
    "西南 Southwest|中南 Central South|东南 Southeast"
)
# Chinese university types: characters, then the English pattern ({p} is the place).
CN_UNIVERSITY_TYPES = _pairs(
    "理工大学 {p} University of Science and Technology|理工学院 {p} Institute of Technology|"
    "工业大学 {p} University of Technology|科技大学 University of Science and Technology {p}|"
    "师范大学 {p} Normal University|医科大学 {p} Medical University|"
    "农业大学 {p} Agricultural University|交通大学 {p} Jiaotong University|"
    "工程大学 {p} Engineering University|"
    "航空航天大学 {p} University of Aeronautics and Astronautics|"
    "航空大学 {p} Aeronautical University|航空学院 {p} Institute of Aeronautics|"
    "电子科技大学 {p} University of Electronic Science and Technology|"
    "邮电大学 {p} University of Posts and Telecommunications|"
    "财经大学 {p} University of Finance and Economics|石油大学 {p} University of Petroleum|"
    "大学 {p} University|工学院 {p} Institute of Engineering|学院 {p} College|"
    "中医药大学 {p} University of Chinese Medicine|外国语大学 {p} Foreign Studies University|"
    "化工大学 {p} University of Chemical Technology|"
    "信息工程大学 {p} Information Engineering University|"
    "职业技术学院 {p} Vocational and Technical College|"
    "科技学院 {p} Institute of Science and Technology|"
    "海洋大学 {p} Ocean University|林业大学 {p} Forestry University|"
    "建筑大学 {p} Jianzhu University|"
    "电力大学 {p} Electric Power University|工商大学 {p} Technology and Business University|"
    "医学院 {p} Medical College|科技师范学院 {p} Normal University of Science and Technology"
)
# Research fields: characters, then English.
CN_FIELDS = _pairs(
    "光学精密机械 Optics and Precision Mechanics|物理 Physics|化学 Chemistry|电子学 Electronics|"
    "半导体 Semiconductors|自动化 Automation|计算技术 Computing Technology|声学 Acoustics|"
    "力学 Mechanics|材料 Materials|金属 Metal Research|生物物理 Biophysics|遥感 Remote Sensing|"
    "微电子 Microelectronics|软件 Software|信息工程 Information Engineering|"
    "核技术 Nuclear Technology|"
    "应用物理 Applied Physics|计算数学 Computational Mathematics|工程物理 Engineering Physics|"
    "航天 Astronautics|航空 Aeronautics|电子技术 Electronic Technology|"
    "光电技术 Optoelectronic Technology|激光 Laser Technology|红外 Infrared Physics|雷达 Radar|"
    "通信 Communications|能源 Energy|海洋 Oceanology|地质 Geology|化学物理 Chemical Physics|"
    "机械 Mechanical Engineering|精密仪器 Precision Instruments|人工智能 Artificial Intelligence|"
    "量子信息 Quantum Information|先进制造 Advanced Manufacturing|新材料 Advanced Materials|"
    "生物医学工程 Biomedical Engineering|环境科学 Environmental Science|空间科学 Space Science|"
    "大气物理 Atmospheric Physics|高能物理 High Energy Physics|等离子体物理 Plasma Physics|"
    "控制工程 Control Engineering|系统工程 Systems Engineering|电工 Electrical Engineering|"
    "集成电路 Integrated Circuits|网络安全 Cyberspace Security|数据科学 Data Science|"
    "水声 Underwater Acoustics|爆炸力学 Explosion Mechanics|推进技术 Propulsion Technology|"
    "导航 Navigation|测控技术 Measurement and Control Technology|光子学 Photonics"
)
# Company brand characters and their pinyin; two of them make a trade name (字号).
CN_BRAND_CHARS = _pairs(
    "华 hua|海 hai|中 zhong|天 tian|科 ke|创 chuang|瑞 rui|鑫 xin|达 da|通 tong|联 lian|航 hang|"
    "星 xing|光 guang|芯 xin|微 wei|智 zhi|云 yun|恒 heng|泰 tai|博 bo|宏 hong|盛 sheng|远 yuan|"
    "新 xin|东 dong|方 fang|金 jin|宇 yu|晨 chen|国 guo|安 an|康 kang|汇 hui|佳 jia|润 run|和 he|"
    "德 de|长 chang|城 cheng|易 yi|尚 shang|明 ming|正 zheng|元 yuan|凯 kai|腾 teng|飞 fei|"
    "龙 long|锐 rui|迅 xun|捷 jie|英 ying|嘉 jia|力 li|诚 cheng|兴 xing|隆 long|丰 feng|"
    "晶 jing|讯 xun|维 wei|睿 rui|思 si|拓 tuo|启 qi|源 yuan|信 xin|精 jing|磊 lei|欣 xin"
)
# Trade names that are (parts of) listed companies' names: never generated.
# So is 中国, which no company may take as its trade name.
CN_BRANDS_AVOIDED = frozenset(
    {"华为", "大华", "海康", "中芯", "讯飞", "商汤", "同方", "中航", "航天", "中国", "国中"}
)
CN_INDUSTRIES = _pairs(
    "电子 Electronics|科技 Technology|信息技术 Information Technology|半导体 Semiconductor|"
    "精密机械 Precision Machinery|光电 Optoelectronics|软件 Software|通信 Communication|"
    "新材料 New Materials|生物医药 Biopharmaceutical|智能装备 Intelligent Equipment|"
    "航空科技 Aviation Technology|微电子 Microelectronics|数字技术 Digital Technology|"
    "网络 Network|能源 Energy|激光 Laser|仪器 Instruments|化工 Chemical|重工 Heavy Industry|"
    "机器人 Robotics|传感技术 Sensing Technology|测控 Measurement and Control|电气 Electric"
)
CN_COMPANY_SUFFIXES = _pairs(
    "有限公司 Co., Ltd.|股份有限公司 Co., Ltd.|集团有限公司 Group Co., Ltd.|"
    "有限责任公司 Co., Ltd.|股份有限公司 Corporation"
)
# Taiwan: traditional characters.
TW_PLACES = _pairs(
    "臺北 Taipei|新竹 Hsinchu|臺中 Taichung|臺南 Tainan|高雄 Kaohsiung|桃園 Taoyuan|嘉義 Chiayi|"
    "花蓮 Hualien|屏東 Pingtung|宜蘭 Yilan|彰化 Changhua|雲林 Yunlin|中興 Chung Hsing|"
    "中央 Central|清華 Tsing Hua|交通 Yang Ming Chiao Tung|成功 Cheng Kung|中正 Chung Cheng"
)
TW_TYPES = _pairs(
    "國立{p}大學 National {p} University|國立{p}科技大學 National {p} University of Science and "
    "Technology|{p}醫學大學 {p} Medical University|國立{p}師範大學 National {p} Normal University|"
    "{p}科技大學 {p} University of Technology"
)

EN_FIELDS = _words(
    "Physics|Chemistry|Applied Physics|Materials Science|Computer Science|Electronics|Photonics|"
    "Quantum Optics|Solid State Physics|Biomedical Engineering|Nuclear Research|Space Research|"
    "Polymer Research|Energy Research|Marine Research|Atmospheric Sciences|Robotics|"
    "Artificial Intelligence|Cybersecurity|Mathematics|Mechanical Engineering|"
    "Aerospace Engineering|Laser Technology|Microelectronics|Semiconductor Physics|Plasma Physics|"
    "Geosciences|Molecular Biology|Neuroscience|Systems Engineering|Information Technology|"
    "Telecommunications|Radio Engineering|Metallurgy|Ceramics|Catalysis|Oceanography|"
    "Remote Sensing|High Energy Physics|Applied Mathematics|Optics|Acoustics|Nanotechnology|"
    "Signal Processing|Power Engineering|Chemical Engineering|Civil Engineering|Genomics|"
    "Infectious Diseases|Cancer Research|Agricultural Sciences|Environmental Studies|Economics"
)
BRAND_HEADS = _words(
    "Astra|Nova|Quant|Vector|Helio|Cyber|Aero|Opti|Terra|Micro|Neuro|Hydro|Sigma|Delta|Orbit|"
    "Photon|Nexa|Vel|Axi|Cor|Lumi|Stra|Kine|Tera|Omni|Syn|Geo|Ion|Elec|Vita|Argo|Bio|Cryo|Dyna|"
    "Ferro|Gyro|Holo|Infra|Kryo|Magna|Nano|Pulsa|Radi|Sono|Tekno|Ultra|Volt|Xeno|Zeta"
)
BRAND_TAILS = _words(
    "tek|tron|ics|gen|lab|sys|nova|is|on|ix|ar|ium|ara|ent|ex|o|wave|core|point|line|soft|data|"
    "net|link|metrics|logic|sense|matic|vision|forge"
)
EN_INDUSTRIES = _words(
    "Technologies|Systems|Photonics|Semiconductor|Aerospace|Robotics|Materials|Instruments|"
    "Microsystems|Biotech|Defence Systems|Electronics|Dynamics|Analytics|Networks|Energy|"
    "Pharmaceuticals|Optics|Industries|Engineering"
)
# Per country: (places, university/institute patterns, company suffixes, share).
# {p} place, {f} field, {b} brand; "|"-separated patterns.
_COUNTRY_TABLES: dict[str, tuple[str, str, str]] = {
    "US": (
        "Arizona|Ohio|Texas|Michigan|Georgia|Oregon|Utah|Florida|Iowa|Kansas|Colorado|Nevada|"
        "Boston|Chicago|Denver|Houston|Seattle|Atlanta|Phoenix|Austin|Dayton|Albany|Tulsa",
        "University of {p}|{p} State University|{p} Institute of Technology|"
        "{p} Institute for {f}|National {f} Laboratory|{p} Center for {f}|{p} College|"
        "{p} Medical Center|{p} Research Foundation",
        "Inc.|LLC|Corporation|Corp.|Holdings Inc.",
    ),
    "GB": (
        "Leeds|York|Bristol|Exeter|Dundee|Cardiff|Glasgow|Bath|Surrey|Kent|Essex|Durham|Reading|"
        "Sheffield|Hull|Aberdeen|Swansea|Lancaster|Brighton|Plymouth",
        "University of {p}|{p} Metropolitan University|{p} Institute of {f}|{p} College|"
        "{p} Centre for {f}|Royal {p} Hospital",
        "Ltd|Limited|plc|Group plc",
    ),
    "DE": (
        "Dresden|Aachen|Munich|Stuttgart|Karlsruhe|Jena|Bremen|Kiel|Ulm|Mainz|Bonn|Freiburg|"
        "Darmstadt|Hannover|Leipzig|Rostock|Erlangen|Ilmenau|Kassel|Siegen",
        "Technische Universität {p}=>{p} University of Technology|"
        "Universität {p}=>University of {p}|"
        "Hochschule {p}=>{p} University of Applied Sciences|"
        "Max Planck Institute for {f} {p}|Fraunhofer Institute for {f} {p}|"
        "Leibniz Institute for {f} {p}|{p} Center for {f}",
        "GmbH|AG|GmbH & Co. KG|SE",
    ),
    "FR": (
        "Lyon|Lille|Nantes|Rennes|Toulouse|Grenoble|Bordeaux|Nancy|Reims|Dijon|Rouen|Brest|"
        "Poitiers|Limoges|Orléans|Amiens|Besançon|Caen",
        "Université de {p}=>University of {p}|Institut de {f} de {p}|École Centrale de {p}|"
        "Laboratoire de {f} de {p}|Centre Hospitalier Universitaire de {p}",
        "SAS|SA|SARL",
    ),
    "IT": (
        "Milano|Torino|Bologna|Padova|Pisa|Napoli|Genova|Bari|Trento|Pavia|Parma|Siena|Catania",
        "Università degli Studi di {p}=>University of {p}|"
        "Politecnico di {p}=>Polytechnic University of {p}|Istituto di {f} {p}|Università di {p}",
        "S.p.A.|S.r.l.",
    ),
    "ES": (
        "Madrid|Valencia|Sevilla|Zaragoza|Murcia|Granada|Oviedo|Salamanca|Navarra|Cádiz|Vigo",
        "Universidad de {p}=>University of {p}|Universidad Politécnica de {p}=>Technical "
        "University of {p}|Instituto de {f} de {p}|"
        "Hospital Universitario de {p}",
        "S.L.|S.A.",
    ),
    "BR": (
        "Minas Gerais|Santa Catarina|Pernambuco|Bahia|Paraná|Goiás|Ceará|Pará|Amazonas|"
        "Campinas|Sao Paulo|Rio Grande do Sul|Espírito Santo|Paraíba",
        "Universidade Federal de {p}=>Federal University of {p}|Universidade de {p}|"
        "Instituto Federal de {p}|"
        "Universidade Estadual de {p}",
        "Ltda.|S.A.",
    ),
    "JP": (
        "Tohoku|Kyushu|Hokkaido|Nagoya|Osaka|Kobe|Chiba|Niigata|Okayama|Kumamoto|Shinshu|"
        "Gifu|Toyama|Kanazawa|Hiroshima|Yamagata|Akita|Tokushima|Saitama|Shizuoka",
        "{p} University|{p} Institute of Technology|{p} University of {f}|"
        "National Institute of {f}|{p} Prefectural University|{p} Medical University",
        "Co., Ltd.|Corporation|K.K.|Holdings",
    ),
    "KR": (
        "Seoul|Busan|Daegu|Incheon|Gwangju|Daejeon|Ulsan|Suwon|Pohang|Cheongju|Jeonju|Changwon",
        "{p} National University|{p} University|{p} Institute of Science and Technology|"
        "Korea Institute of {f}|{p} University of Science and Technology",
        "Co., Ltd.|Corporation|Inc.",
    ),
    "IN": (
        "Madras|Bombay|Kanpur|Kharagpur|Roorkee|Guwahati|Hyderabad|Indore|Jodhpur|Patna|"
        "Mandi|Tiruchirappalli|Warangal|Surathkal|Calicut|Pune|Bhopal|Nagpur",
        "Indian Institute of Technology {p}|National Institute of Technology {p}|"
        "University of {p}|{p} Institute of {f}|Indian Institute of Science Education and "
        "Research {p}|Defence Research Laboratory {p}",
        "Pvt. Ltd.|Private Limited|Ltd.",
    ),
    "RU": (
        "",
        "Institute of {f}, Russian Academy of Sciences|Research Institute of {f}|"
        "Central Research Institute of {f}",
        "JSC|LLC|PJSC",
    ),
    "IR": (
        "Tehran|Isfahan|Shiraz|Tabriz|Mashhad|Kerman|Yazd|Qom|Ahvaz|Semnan|Zanjan|Urmia|"
        "Kashan|Arak|Hamadan|Babol|Birjand",
        "University of {p}|{p} University of Technology|{p} University of Medical Sciences|"
        "Islamic Azad University, {p} Branch|{p} Institute of {f}|{p} Research Center for {f}",
        "Co.|Industries Co.|Company",
    ),
    "PK": (
        "Lahore|Karachi|Peshawar|Islamabad|Quetta|Multan|Faisalabad|Taxila|Rawalpindi",
        "University of Engineering and Technology, {p}|University of {p}|"
        "{p} Institute of {f}|National Centre for {f}, {p}",
        "(Pvt) Ltd.|Limited",
    ),
    "TR": (
        "Ankara|Izmir|Bursa|Konya|Kayseri|Eskisehir|Trabzon|Erzurum|Sakarya|Gebze|Samsun",
        "{p} University|{p} Technical University|{p} Institute of {f}|"
        "{p} Teknik Üniversitesi=>{p} Technical University",
        "A.S.|Ltd. Sti.",
    ),
    "SG": (
        "Singapore",
        "{p} Institute of {f}|{p} Centre for {f}|{p} University of Technology and Design",
        "Pte. Ltd.",
    ),
    "HK": (
        "Hong Kong|Kowloon|Sha Tin|Tsuen Wan",
        "{p} University of Science and Technology|{p} Institute of {f}|{p} Polytechnic College|"
        "{p} Centre for {f}",
        "Limited|Holdings Limited",
    ),
}
# Russian cities: English, then the adjective form for Cyrillic names.
RU_CITIES = _pairs(
    "Tomsk Томский|Kazan Казанский|Novosibirsk Новосибирский|Samara Самарский|Perm Пермский|"
    "Omsk Омский|Ural Уральский|Saratov Саратовский|Voronezh Воронежский|Tula Тульский|"
    "Irkutsk Иркутский|Krasnoyarsk Красноярский|Ufa Уфимский|Chelyabinsk Челябинский|"
    "Kursk Курский|Orenburg Оренбургский|Tambov Тамбовский|Bryansk Брянский|Kaluga Калужский|"
    "Kuban Кубанский|Altai Алтайский|Baltic Балтийский|Volga Волжский|Don Донской"
)
RU_TYPES = _pairs(
    "University государственный университет|Technical_University государственный технический "
    "университет|Polytechnic_University политехнический университет|"
    "University_of_Technology технологический университет|Medical_University медицинский "
    "университет|Aerospace_University аэрокосмический университет"
)
RU_BRANDS = _words(
    "Almaz|Vostok|Zenit|Granit|Rubin|Kristall|Polyus|Signal|Impuls|Sapfir|Kvant|Orion|Sokol|"
    "Strela|Molniya|Radon|Elektron|Avangard|Progress|Vega|Kometa|Luch|Istok|Salyut|Mayak"
)
RU_INDUSTRIES = _words(
    "Scientific Production Association|Research and Production Enterprise|Design Bureau|"
    "Instrument-Making Plant|Radio Plant|Electronics Plant|Machine-Building Plant"
)

COUNTRY_WEIGHTS = _pairs(
    "CN 40|RU 8|IR 5|US 8|GB 4|DE 5|FR 3|IT 2|ES 2|BR 2|JP 4|KR 3|IN 4|TW 3|HK 1|SG 1|PK 2|TR 2"
)
# What kind of organisation, by weight.
KIND_WEIGHTS = (
    ("university", 35),
    ("research_institute", 25),
    ("lab", 10),
    ("company", 25),
    ("state_body", 2),
    ("military_body", 1),
    ("other", 2),
)
_MINOR_WORDS = frozenset(
    _words("of|and|the|for|in|at|on|de|du|des|la|le|di|degli|del|der|für|y|e|da|do|dos|das")
)
_KEY_STOPWORDS = frozenset({"", "of", "the", "and"})
_ROR_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def normal_key(name: str) -> str:
    """A crude comparison key for names to avoid: case folded words, without "of" and "the".

    NFKC first, and "and" left out too: "University of Science and Technology of China" and
    "University of Science and Technology China" are one name.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    words = re.split(r"[^\w]+", folded)
    return "".join(word for word in words if word not in _KEY_STOPWORDS)


def acronym(name: str) -> str:
    """The initials of the name's significant words, as institutions abbreviate themselves."""
    words = re.findall(r"[A-Za-zÀ-ÿ]+", name.split(",")[0])
    return "".join(word[0].upper() for word in words if word.casefold() not in _MINOR_WORDS)


class _Picker:
    """Weighted choice over a fixed table, with its cumulative weights computed once."""

    def __init__(self, table: tuple[tuple[str, str], ...] | tuple[tuple[str, int], ...]) -> None:
        self.values = [value for value, _ in table]
        self.cumulative = list(itertools.accumulate(int(weight) for _, weight in table))

    def __call__(self, rng: random.Random) -> str:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


_COUNTRY = _Picker(COUNTRY_WEIGHTS)
_KIND = _Picker(KIND_WEIGHTS)


def _brand(rng: random.Random) -> str:
    return rng.choice(BRAND_HEADS) + rng.choice(BRAND_TAILS)


def _cn_brand(rng: random.Random) -> tuple[str, str]:
    while True:
        (c1, p1), (c2, p2) = rng.sample(CN_BRAND_CHARS, 2)
        if c1 + c2 not in CN_BRANDS_AVOIDED:
            return c1 + c2, (p1 + p2).capitalize()


def _name(value: str, type_: str, lang: str | None = None) -> dict[str, Any]:
    return {"value": value, "lang": lang, "type": type_}


def _chinese(rng: random.Random, kind: str) -> tuple[str, str, list[dict[str, Any]], str | None]:
    """English name, Chinese official name, other names, parent, for a Chinese organisation."""
    place_zh, place_en = rng.choice(CN_PLACES)
    names: list[dict[str, Any]] = []
    parent = None
    if kind == "university":
        type_zh, pattern = rng.choice(CN_UNIVERSITY_TYPES)
        zh, en = place_zh + type_zh, pattern.format(p=place_en)
    elif kind in ("research_institute", "military_body", "state_body"):
        field_zh, field_en = rng.choice(CN_FIELDS)
        style = rng.random()
        if style < 0.35:
            zh = f"中国科学院{place_zh}{field_zh}研究所"
            en = f"{place_en} Institute of {field_en}"
            parent = "Chinese Academy of Sciences"
            names.append(_name(f"{en}, Chinese Academy of Sciences", "alias"))
        elif style < 0.6:
            zh, en = f"{place_zh}{field_zh}研究所", f"{place_en} Institute of {field_en}"
        elif style < 0.8:
            zh, en = f"{place_zh}{field_zh}研究院", f"{place_en} Academy of {field_en}"
        else:
            number = rng.randrange(1, 800)
            zh = f"中国电子科技集团公司第{number}研究所"
            en = f"The {_ordinal(number)} Research Institute of CETC"
            parent = "China Electronics Technology Group Corporation"
    elif kind == "lab":
        field_zh, field_en = rng.choice(CN_FIELDS)
        style = rng.random()
        if style < 0.4:
            zh = f"{place_zh}{field_zh}国家重点实验室"
            en = f"State Key Laboratory of {field_en} ({place_en})"
        elif style < 0.7:
            zh = f"{place_zh}{field_zh}教育部重点实验室"
            en = f"Key Laboratory of {field_en} ({place_en}), Ministry of Education"
        else:
            zh, en = f"{place_zh}{field_zh}实验室", f"{place_en} Laboratory of {field_en}"
    else:  # company or other
        brand_zh, brand_en = _cn_brand(rng)
        industry_zh, industry_en = rng.choice(CN_INDUSTRIES)
        suffix_zh, suffix_en = rng.choice(CN_COMPANY_SUFFIXES)
        zh = f"{place_zh}{brand_zh}{industry_zh}{suffix_zh}"
        en = f"{place_en} {brand_en} {industry_en} {suffix_en}"
        if rng.random() < 0.5:
            names.append(_name(f"{brand_en} {industry_en}", "alias"))
    return en, zh, names, parent


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _taiwanese(rng: random.Random, kind: str) -> tuple[str, str]:
    place_zh, place_en = rng.choice(TW_PLACES)
    if kind == "company":
        brand_zh, brand_en = _cn_brand(rng)
        industry_zh, industry_en = rng.choice(CN_INDUSTRIES)
        return f"{brand_en} {industry_en} Corporation", f"{brand_zh}{industry_zh}股份有限公司"
    pattern_zh, pattern_en = rng.choice(TW_TYPES)
    return pattern_en.format(p=place_en), pattern_zh.format(p=place_zh)


def _russian(rng: random.Random, kind: str) -> tuple[str, str | None]:
    if kind == "university":
        city_en, city_ru = rng.choice(RU_CITIES)
        type_en, type_ru = rng.choice(RU_TYPES)
        return f"{city_en} State {type_en.replace('_', ' ')}", f"{city_ru} {type_ru}"
    if kind == "company":
        industry = rng.choice(RU_INDUSTRIES)
        suffix = rng.choice(("JSC", "PJSC", "LLC"))
        return f"{industry} {rng.choice(RU_BRANDS)}-{rng.randrange(2, 99)} {suffix}", None
    pattern = rng.choice(_COUNTRY_TABLES["RU"][1].split("|"))
    return pattern.format(f=rng.choice(EN_FIELDS)), None


def _other(rng: random.Random, country: str, kind: str) -> tuple[str, str | None]:
    """A name in the country's own patterns, and its English translation when it has one."""
    places, patterns, suffixes = _COUNTRY_TABLES[country]
    if kind == "company":
        brand = _brand(rng)
        suffix = rng.choice(suffixes.split("|"))
        return f"{brand} {rng.choice(EN_INDUSTRIES)} {suffix}", None
    pattern, _, translation = rng.choice(patterns.split("|")).partition("=>")
    parts = {"p": rng.choice(places.split("|")), "f": rng.choice(EN_FIELDS)}
    return pattern.format(**parts), translation.format(**parts) if translation else None


def _former_name(rng: random.Random, name: str, country: str, kind: str) -> str | None:
    """A name the organisation had before: institutions merge and rename, companies change
    what they make. Built on what tells it apart (a company's trade name, an institution's
    place), never on a generic first word ("The", "China", "Electronics Plant")."""
    known = places(country)
    if kind == "company":
        if country == "RU":
            return None
        # The trade name comes first, after the home place if the name starts with one.
        rest = name
        for place in sorted(known, key=len, reverse=True):
            if name.startswith(place + " "):
                rest = name[len(place) + 1 :]
                break
        return f"{rest.split()[0]} {rng.choice(EN_INDUSTRIES)} Company"
    words = [word.strip(",()") for word in name.split()]
    place = next((w for w in words if w in known and w != "China"), None)
    return None if place is None else f"{place} Institute of {rng.choice(EN_FIELDS)}"


def _ror(rng: random.Random) -> str:
    body = "".join(rng.choice(_ROR_ALPHABET) for _ in range(6))
    return f"https://ror.org/0{body}{rng.randrange(100):02d}"


def subject(rng: random.Random) -> dict[str, Any]:
    """One organisation, as an advisory's ``subject`` (SPEC section 4), in stored form."""
    country = _COUNTRY(rng)
    kind = _KIND(rng)
    names: list[dict[str, Any]] = []
    parent: str | None = None
    if country == "CN":
        name, zh, names, parent = _chinese(rng, kind)
        # Most Chinese subjects carry their official Chinese name, as listings of them do.
        if rng.random() < 0.8:
            names.insert(0, _name(zh, "official", "zh"))
    elif country == "TW":
        name, zh = _taiwanese(rng, kind)
        if rng.random() < 0.7:
            names.insert(0, _name(zh, "official", "zh-Hant"))
    elif country == "RU":
        name, russian = _russian(rng, kind)
        if russian is not None and rng.random() < 0.7:
            names.insert(0, _name(russian, "official", "ru"))
    else:
        name, translation = _other(rng, country, kind)
        if translation is not None and rng.random() < 0.6:
            names.append(_name(translation, "translation", "en"))
    if rng.random() < 0.45 and kind != "company":
        letters = acronym(name)
        if 2 <= len(letters) <= 8:
            names.append(_name(letters, "acronym"))
    if rng.random() < 0.08:
        former = _former_name(rng, name, country, kind)
        if former is not None:
            names.append(_name(former, "former"))
    identifiers: dict[str, str] = {}
    if kind in ("university", "research_institute", "lab") and rng.random() < 0.7:
        identifiers["ror"] = _ror(rng)
    if rng.random() < 0.3:
        identifiers["wikidata"] = f"Q{rng.randrange(10_000, 99_999_999)}"
    return {
        "name": name,
        "names": names,
        "country": country,
        "kind": kind,
        "identifiers": identifiers,
        "parent": parent,
    }


def subjects(
    count: int, *, avoid: Callable[[str], bool] = lambda _: False, seed: int = SEED
) -> Iterator[dict[str, Any]]:
    """``count`` distinct organisations (no two share a name) none of whose names ``avoid``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    made = 0
    while made < count:
        candidate = subject(rng)
        keys = [normal_key(candidate["name"])] + [
            normal_key(n["value"]) for n in candidate["names"]
        ]
        if keys[0] in seen or any(avoid(key) for key in keys):
            continue
        seen.add(keys[0])
        made += 1
        yield candidate


def places(country: str) -> tuple[str, ...]:
    """The English place names the generator uses for ``country``."""
    if country == "CN":
        return tuple(en for _, en in CN_PLACES)
    if country == "TW":
        return tuple(en for _, en in TW_PLACES)
    if country == "RU":
        return tuple(en for en, _ in RU_CITIES)
    table = _COUNTRY_TABLES.get(country)
    return tuple(table[0].split("|")) if table and table[0] else ()
