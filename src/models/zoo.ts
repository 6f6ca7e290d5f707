// Importing a family module registers its backbones. One line per Keras applications module.
import { listBackbones, getBackbone } from './registry.js';
// Keras semantics for frozen BatchNormalization (inference mode, fixed statistics) for every zoo model.
import './batchnorm.js';
// zoo-imports: keep one import per family file below this line
import './resnet.js';
import './inception_v3.js';
import './xception.js';
import './mobilenet.js';
import './mobilenet_v2.js';
import './efficientnet.js';
export { listBackbones, getBackbone };
