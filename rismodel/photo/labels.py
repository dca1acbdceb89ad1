"""The detector's 80 COCO classes (index = the class value CenterNet outputs) and a small synonym
list for the head nouns people type most. Words outside both go to the text encoder
(:mod:`.vocab`)."""

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
assert len(COCO_CLASSES) == 80

# Head noun -> class. Exact words only (after lower-casing and singularising).
SYNONYMS = {
    **{w: "person" for w in (
        "man", "men", "woman", "women", "people", "persons", "person", "boy", "girl", "child", "children",
        "kid", "kids", "guy", "lady", "ladies", "gentleman", "player", "astronaut", "human",
        "someone", "baby", "adult", "teenager", "student", "passenger", "rider", "skier",
        "surfer", "dad", "mom", "mother", "father", "son", "daughter", "friend", "worker",
        "officer", "chef", "pedestrian", "spectator", "guest", "individual", "figure")},
    "bike": "bicycle", "cycle": "bicycle", "motorbike": "motorcycle", "scooter": "motorcycle",
    "plane": "airplane", "aeroplane": "airplane", "jet": "airplane", "aircraft": "airplane",
    "automobile": "car", "taxi": "car", "van": "car", "suv": "car", "lorry": "truck",
    "pickup": "truck", "ship": "boat", "kayak": "boat", "canoe": "boat", "yacht": "boat",
    "puppy": "dog", "doggy": "dog", "hound": "dog", "kitten": "cat", "kitty": "cat",
    "pony": "horse", "foal": "horse", "lamb": "sheep", "calf": "cow", "cattle": "cow",
    "bag": "handbag", "purse": "handbag", "ball": "sports ball", "football": "sports ball",
    "racket": "tennis racket", "racquet": "tennis racket", "glass": "wine glass",
    "mug": "cup", "teacup": "cup", "sofa": "couch", "settee": "couch", "plant": "potted plant",
    "flowerpot": "potted plant", "table": "dining table", "desk": "dining table",
    "television": "tv", "monitor": "tv", "screen": "tv", "tvmonitor": "tv", "phone": "cell phone",
    "cellphone": "cell phone", "smartphone": "cell phone", "mobile": "cell phone",
    "fridge": "refrigerator", "doughnut": "donut", "teddy": "teddy bear", "notebook": "laptop",
    "computer": "laptop", "stool": "chair", "armchair": "chair", "seat": "chair",
    "hydrant": "fire hydrant", "bat": "baseball bat", "glove": "baseball glove",
    "hairdryer": "hair drier", "dryer": "hair drier",
}
SYNONYMS.update({"knives": "knife", "knive": "knife", "wineglass": "wine glass", "tvs": "tv"})
